"""`specc schema` documents every setting: each field's description is its text in the JSON Schema."""

from __future__ import annotations

import json

from click.testing import CliRunner

from specc.cli import main
from specc.spec.schema import PPOSection


def test_every_ppo_field_has_a_description_that_specc_schema_prints() -> None:
    undocumented = [name for name, field in PPOSection.model_fields.items() if not field.description]
    assert not undocumented, f"PPO fields without a description: {undocumented}"
    done = CliRunner().invoke(main, ["schema"])
    assert done.exit_code == 0, done.output
    schema = json.loads(done.output)
    properties = schema["$defs"]["PPOSection"]["properties"]
    for name, field in PPOSection.model_fields.items():
        assert properties[name]["description"] == field.description, name
