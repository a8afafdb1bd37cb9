"""Regenerate the broken-spec corpus: `python tests/diagnostics/make_corpus.py`.

Each case edits the valid cart-pole spec and puts the marker ⟦ where its diagnostic
must point. The marker is removed and its line and column written into the file's
last line (`# expect: CODE LINE:COL`), so the expectation comes from where a person
placed the marker, never from what the linter printed.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
BASE = (HERE.parent / "specs" / "cartpole.toml").read_text(encoding="utf-8")
M = "⟦"


def edit(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


ALIVE = 'expr = "1.0"'
CENTERED = 'expr = "square(joint_pos.slider)"'
POLE = 'expr = "abs(joint_pos.hinge) > 0.4"'
OBS_POS = 'name = "joint_pos"\nexpr = "joint_pos"'

CASES: dict[str, tuple[str, str]] = {
    # TOML and schema
    "invalid_toml": ("SPC002", edit('name = "cartpole"', f'name = "cartpole{M}')),
    "unknown_section": ("SPC101", edit("[randomization]", f"[{M}randomisation]")),
    "unknown_robot_key": ("SPC101", edit("action_scale = 0.25", f"{M}action_scael = 0.25")),
    "unknown_reward_key": ("SPC101", edit("weight = -0.05", f"{M}wieght = -0.05")),
    "unknown_ppo_key": ("SPC101", edit("learning_rate = 1e-3", f"{M}learning_rat = 1e-3")),
    "unknown_inline_key": (
        "SPC101",
        edit("slider = { stiffness = 60.0,", f"slider = {{ {M}stifness = 60.0,"),
    ),
    "missing_task_name": ("SPC102", edit('[task]\nname = "cartpole"\n', f"[{M}task]\n")),
    "missing_observations": (
        "SPC102",
        M
        + edit(
            '[[observations]]\nname = "joint_pos"\nexpr = "joint_pos"\n\n[[observations]]\nname = "joint_vel"\n'
            'expr = "joint_vel"\nscale = 0.2\n',
            "",
        ),
    ),
    "wrong_type_num_envs": ("SPC103", edit("num_envs = 64", f'num_envs = {M}"many"')),
    "wrong_type_weight": ("SPC103", edit("weight = -0.05", f'weight = {M}"heavy"')),
    "negative_dt": ("SPC104", edit("dt = 0.01", f"dt = {M}-0.01")),
    "reversed_range": (
        "SPC104",
        edit(
            "[randomization]\nenabled = false", f"[randomization]\nenabled = false\nfriction = {M}[1.5, 0.5]"
        ),
    ),
    "negative_friction": (
        "SPC104",
        edit(
            "[randomization]\nenabled = false", f"[randomization]\nenabled = false\nfriction = {M}[-0.1, 1.0]"
        ),
    ),
    "zero_mass_scale": (
        "SPC104",
        edit(
            "[randomization]\nenabled = false",
            f"[randomization]\nenabled = false\nlink_mass_scale = {M}[0.0, 1.2]",
        ),
    ),
    "categorical_length": (
        "SPC104",
        edit(
            "[rewards]\n",
            "[commands.ranges]\nspeed = [0.0, 1.0]\n\n"
            f'[commands.categorical.{M}mode]\nchoices = ["a", "b"]\n'
            "values = { speed = [0.5] }\n\n[rewards]\n",
        ),
    ),
    "bad_term_name": ("SPC105", edit("[rewards.terms.centered]", f"[rewards.terms.{M}Centered]")),
    "bad_observation_name": ("SPC105", edit('name = "joint_vel"', f'name = {M}"joint vel"')),
    # expression syntax
    "unclosed_call": ("SPC201", edit(CENTERED, f'expr = "square(joint_pos.slider{M}"')),
    "bad_character": ("SPC201", edit(CENTERED, f'expr = "square(joint_pos.slider) {M}$ 2"')),
    "chained_comparison": ("SPC201", edit(POLE, f'expr = "0.1 < abs(joint_pos.hinge) {M}< 0.4"')),
    "empty_expression": ("SPC201", edit(CENTERED, f'expr = "{M}"')),
    "too_deep": (
        "SPC214",
        edit(CENTERED, 'expr = "' + "(" * 48 + M + "(" + "joint_pos.slider" + ")" * 49 + '"'),
    ),
    # names and types
    "unknown_signal": ("SPC202", edit(CENTERED, f'expr = "square({M}joint_poss.slider)"')),
    "function_as_signal": ("SPC202", edit(CENTERED, f'expr = "{M}square + 1.0"')),
    "unknown_function": ("SPC203", edit(CENTERED, f'expr = "{M}sqaure(joint_pos.slider)"')),
    "signal_as_function": ("SPC203", edit(CENTERED, f'expr = "{M}joint_pos(1.0)"')),
    "wrong_arity": ("SPC204", edit(CENTERED, f'expr = "{M}clamp(joint_pos.slider)"')),
    "reward_not_reduced": ("SPC205", edit(CENTERED, f'expr = "{M}square(joint_pos)"')),
    "termination_not_reduced": ("SPC205", edit(POLE, f'expr = "{M}abs(joint_pos) > 0.4"')),
    "bool_as_number": ("SPC206", edit(CENTERED, f'expr = "({M}joint_pos.slider > 0.0) * 2.0"')),
    "bool_reward": ("SPC206", edit(CENTERED, f'expr = "{M}joint_pos.slider > 0.0"')),
    "unknown_component": ("SPC207", edit(CENTERED, f'expr = "square(joint_pos.{M}slidr)"')),
    "component_of_scalar": ("SPC207", edit(CENTERED, f'expr = "square(episode_time.{M}x)"')),
    "division_by_zero": ("SPC208", edit(CENTERED, f'expr = "joint_vel.slider / {M}0.0"')),
    "observation_matrix": ("SPC209", edit(OBS_POS, f'name = "joint_pos"\nexpr = "{M}contact_force[base]"')),
    "unknown_body_group": ("SPC210", edit(CENTERED, f'expr = "sum(norm(contact_force[{M}hands]))"')),
    "group_missing": ("SPC210", edit(CENTERED, f'expr = "sum(norm({M}contact_force))"')),
    "number_as_bool": ("SPC211", edit(POLE, f'expr = "{M}abs(joint_pos.hinge)"')),
    "not_a_number": ("SPC211", edit(POLE, f'expr = "not {M}joint_pos.hinge"')),
    "sum_of_scalar": ("SPC212", edit(CENTERED, f'expr = "sum({M}joint_pos.slider)"')),
    "shape_mismatch": ("SPC212", edit(CENTERED, f'expr = "sum(joint_pos {M}+ base_pos)"')),
    "unknown_term_ref": ("SPC213", edit(CENTERED, f'expr = "term.{M}alvie * 2.0"')),
    "cyclic_term_ref": (
        "SPC213",
        edit(ALIVE, 'expr = "term.centered"', edit(CENTERED, f'expr = "term.{M}alive"')),
    ),
    "clamp_bounds_not_constant": (
        "SPC215",
        edit(CENTERED, f'expr = "clamp(joint_pos.slider, {M}joint_pos.hinge, 1.0)"'),
    ),
    # positions inside strings: escapes, multi-line and literal strings
    "escape_before_error": ("SPC202", edit(CENTERED, f'expr = "square(joint_pos.slider) \\u002B {M}foo"')),
    "multiline_string": ("SPC202", edit(CENTERED, f'expr = """\nsquare(joint_pos.slider)\n  + {M}bar"""')),
    "literal_string": ("SPC203", edit(CENTERED, f"expr = 'square(joint_pos.slider) + {M}cube(1.0)'")),
    # robot
    "urdf_missing": (
        "SPC301",
        edit('urdf = "../robots/cartpole.urdf"', f'urdf = {M}"../robots/nothere.urdf"'),
    ),
    "package_missing": (
        "SPC301",
        edit('urdf = "../robots/cartpole.urdf"', f'urdf = {M}"package://no-such-package/robot.urdf"'),
    ),
    "urdf_malformed": (
        "SPC302",
        edit('urdf = "../robots/cartpole.urdf"', f'urdf = {M}"../robots/broken.urdf"'),
    ),
    "urdf_doctype": (
        "SPC302",
        edit('urdf = "../robots/cartpole.urdf"', f'urdf = {M}"../robots/doctype.urdf"'),
    ),
    "joint_pattern_unmatched": ("SPC303", edit("slider = { stiffness", f"{M}slidr = {{ stiffness")),
    "default_pos_unmatched": (
        "SPC303",
        edit("[robot.pd]", f'[robot.default_joint_pos]\n{M}"*_HFE" = 0.4\n\n[robot.pd]'),
    ),
    "foot_link_missing": (
        "SPC304",
        edit("fixed_base = true", f'fixed_base = true\nfeet = ["cart", {M}"foot"]'),
    ),
    "base_not_root": ("SPC304", edit('base = "rail"', f'base = {M}"cart"')),
    "joint_without_gains": (
        "SPC308",
        edit("[robot.pd]\nslider", f"[robot.{M}pd]\nslider").replace(
            "hinge = { stiffness = 0.0, damping = 0.0, effort = 1.0 }\n", ""
        ),
    ),
    # terrain
    "terrain_too_large": (
        "SPC104",
        BASE + f'\n[terrain]\ntype = "tiles"\nrows = 100\ncols = 200\nhorizontal_scale = {M}0.01\n',
    ),
    "terrain_too_large_for_cpu_copies": (
        "SPC104",
        BASE + f'\n[terrain]\ntype = "tiles"\nrows = {M}100\n',
    ),
    "terrain_step_too_high": (
        "SPC104",
        BASE + f'\n[terrain]\ntype = "tiles"\n\n[terrain.difficulty]\nstep_height = [0.05, {M}3.0]\n',
    ),
    "terrain_scan_larger_than_tile": (
        "SPC104",
        BASE
        + f'\n[terrain]\ntype = "tiles"\ntile_size = [4.0, 4.0]\n\n[terrain.height_scan]\nx = {M}[-2.5, 2.5]\n',
    ),
    "terrain_unknown_type": (
        "SPC105",
        BASE + f'\n[terrain]\ntype = "tiles"\n\n[terrain.proportions]\n{M}stairs = 1.0\n',
    ),
    "terrain_scan_without_pattern": (
        "SPC202",
        edit(OBS_POS, f'name = "joint_pos"\nexpr = "{M}height_scan"'),
    ),
    "terrain_rule_not_boolean": (
        "SPC211",
        BASE + f'\n[terrain]\ntype = "tiles"\n\n[terrain.curriculum]\npromote = "{M}norm(base_pos.xy)"\n',
    ),
}


def place(text: str) -> tuple[str, int, int]:
    index = text.index(M)
    before = text[:index]
    line = before.count("\n") + 1
    col = index - (before.rfind("\n") + 1) + 1
    return text.replace(M, "", 1), line, col


def main() -> None:
    for old in HERE.glob("bad_*.toml"):
        old.unlink()
    for name, (code, marked) in CASES.items():
        text, line, col = place(marked)
        if not text.endswith("\n"):
            text += "\n"
        (HERE / f"bad_{name}.toml").write_text(text + f"# expect: {code} {line}:{col}\n", encoding="utf-8")
    print(f"wrote {len(CASES)} cases")


if __name__ == "__main__":
    main()
