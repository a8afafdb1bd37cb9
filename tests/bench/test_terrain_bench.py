"""bench/terrain.py's `--variant` and `--buffers`: each variant is a list of specc `--set` settings, read as the spec
changes anymal_rough is measured with beside the shipped task; a malformed one stops the bench
before anything is built."""

from __future__ import annotations

import sys

import pytest
from layout import bench_script


def _bench_module():
    return bench_script("terrain", "terrain_bench")


def test_a_variant_is_the_spec_changes_its_settings_make():
    bench = _bench_module()
    changes = bench.spec_changes(
        [
            "terrain.horizontal_scale=0.1",
            "robot.cylinders_as_capsules=true",
            "ppo.actor_hidden_dims=[256, 128]",
        ]
    )
    assert changes == {
        "terrain.horizontal_scale": 0.1,
        "robot.cylinders_as_capsules": True,
        "ppo.actor_hidden_dims": [256, 128],
    }


@pytest.mark.parametrize("setting", ["terrain.horizontal_scale", "=0.1", "terrain..rows=4"])
def test_a_malformed_variant_stops_the_bench_with_the_setting_named(setting, monkeypatch, capsys):
    bench = _bench_module()
    monkeypatch.setattr(sys, "argv", ["terrain.py", "--skip-throughput", "--variant", setting])
    with pytest.raises(SystemExit) as stopped:
        bench.main()
    assert str(stopped.value).startswith("--variant: ") and setting in str(stopped.value)


def test_buffer_sizes_are_a_variant_of_the_two_buffer_settings():
    bench = _bench_module()
    assert bench.buffer_sizes("48:200") == (
        "48:200",
        {"sim.max_contacts_per_env": 48, "sim.max_constraints_per_env": 200},
    )


@pytest.mark.parametrize("sizes", ["48", "48:", "x:200", "48:200:1", "48:2e2"])
def test_malformed_buffer_sizes_stop_the_bench_before_anything_is_built(sizes, monkeypatch, capsys):
    bench = _bench_module()
    monkeypatch.setattr(sys, "argv", ["terrain.py", "--skip-throughput", "--buffers", sizes])
    with pytest.raises(SystemExit) as stopped:
        bench.main()
    assert stopped.value.code == 2 and "is not C:R" in capsys.readouterr().err
