"""Regenerate the broken-spec corpus: `python tests/diagnostics/make_corpus.py`.

Each case edits the valid cart-pole spec and puts the marker ⟦ where its diagnostic
must point. The marker is removed and its line and column written into the file's
last line (`# expect: CODE LINE:COL`), so the expectation comes from where a person
placed the marker, never from what the linter printed. A case may also name text its
message must contain (`# expect-message: ...`), written here by a person too.
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

CASES: dict[str, tuple[str, ...]] = {
    # TOML and schema
    "invalid_toml": ("SPC002", edit('name = "cartpole"', f'name = "cartpole{M}')),
    "unknown_section": ("SPC101", edit("[randomization]", f"[{M}randomisation]")),
    "unknown_robot_key": ("SPC101", edit('passive = ["hinge"]', f'{M}pasive = ["hinge"]')),
    "unknown_reward_key": ("SPC101", edit("weight = -0.05", f"{M}wieght = -0.05")),
    "unknown_ppo_key": ("SPC101", edit("learning_rate = 1e-3", f"{M}learning_rat = 1e-3")),
    "unknown_inline_key": (
        "SPC101",
        edit("slider = { scale = 10.0,", f"slider = {{ {M}scael = 10.0,"),
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
    "ppo_table_on_sac": (  # its settings would be ignored
        "SPC104",
        edit("[ppo]\n", f'[algorithm]\nname = "sac"\n\n[sac]\nbatch_size = 256\n\n[{M}ppo]\n'),
        "[ppo] settings on a spec whose algorithm is 'sac'",
    ),
    "reversed_range": (
        "SPC104",
        edit(
            "[randomization]\nenabled = false", f"[randomization]\nenabled = false\nfriction = {M}[1.5, 0.5]"
        ),
    ),
    "negative_friction": (
        "SPC104",
        edit(
            "[randomization]\nenabled = false", f"[randomization]\nenabled = false\nfriction = [{M}-0.1, 1.0]"
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
            '[commands.categorical.mode]\nchoices = ["a", "b"]\n'
            f"values = {{ speed = {M}[0.5] }}\n\n[rewards]\n",
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
    "not_a_quaternion": ("SPC216", edit(CENTERED, f'expr = "square(yaw({M}base_pos))"')),
    "rotate_not_a_vector": ("SPC216", edit(CENTERED, f'expr = "norm(rotate(base_quat, {M}joint_pos))"')),
    "unknown_value": (
        "SPC217",
        edit(CENTERED, f'expr = "value.{M}tilt_eror"', BASE + '\n[values]\ntilt = "abs(joint_pos.hinge)"\n'),
    ),
    "cyclic_value": (
        "SPC217",
        edit(CENTERED, 'expr = "value.a"', BASE + f'\n[values]\na = "value.b + 1.0"\nb = "value.{M}a"\n'),
    ),
    "success_not_boolean": (
        "SPC211",
        edit('success = "abs(joint_pos.hinge) < 0.4"', f'success = "{M}abs(joint_pos.hinge)"'),
    ),
    "success_not_reduced": (
        "SPC205",
        edit('success = "abs(joint_pos.hinge) < 0.4"', f'success = "{M}abs(joint_pos) < 0.4"'),
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
    "joint_pattern_unmatched": ("SPC303", edit("slider = { scale", f"{M}slidr = {{ scale")),
    "default_pos_unmatched": (
        "SPC303",
        edit("[robot.torque]", f'[robot.default_joint_pos]\n{M}"*_HFE" = 0.4\n\n[robot.torque]'),
    ),
    "foot_link_missing": (
        "SPC304",
        edit("fixed_base = true", f'fixed_base = true\nfeet = ["cart", {M}"foot"]'),
    ),
    "base_not_root": ("SPC304", edit('base = "rail"', f'base = {M}"cart"')),
    "joint_without_gains": (
        "SPC308",
        edit("[robot]\nurdf", f"[{M}robot]\nurdf").replace('passive = ["hinge"]\n', ""),
    ),
    "default_pos_outside_limits": (
        "SPC310",
        edit("[robot.torque]", f"[robot.default_joint_pos]\n{M}slider = 3.5\n\n[robot.torque]"),
        "slider = 3.5 (limits [-3, 3])",
    ),
    "init_height_in_ground": (
        "SPC311",
        edit("init_height = 1.0", f"init_height = {M}0.05"),
        "link 'rail' reaches 0.025 m below the ground",
    ),
    # numbers: finite, strictly typed, in their physical range
    "non_finite_weight": ("SPC104", edit("weight = -0.05", f"weight = {M}inf"), "inf is not a finite number"),
    "nan_default_pos": (
        "SPC104",
        edit("[robot.torque]", f"[robot.default_joint_pos]\nslider = {M}nan\n\n[robot.torque]"),
        "nan is not a finite number",
    ),
    "weight_out_of_range": (
        "SPC104",
        edit("weight = -0.05", f"weight = {M}-1e9"),
        "-1000000000.0 is out of range: input should be greater than or equal to -10000",
    ),
    "bool_as_decimation": ("SPC103", edit("decimation = 2", f"decimation = {M}true"), "true is a boolean"),
    "float_as_integer": (
        "SPC103",
        edit("learning_rate = 1e-3", f"learning_rate = 1e-3\nnum_mini_batches = {M}1e9"),
        "1000000000.0 is not an integer",
    ),
    "too_many_mini_batches": (
        "SPC104",
        edit("learning_rate = 1e-3", f"learning_rate = 1e-3\nnum_mini_batches = {M}4096"),
        "4096 mini-batches do not fit a rollout of 2048 samples",
    ),
    "episode_too_long": (
        "SPC104",
        edit("episode_length_s = 5.0", f"episode_length_s = {M}1e5"),
        "less than or equal to 3600",
    ),
    "learning_rate_above_one": (
        "SPC104",
        edit("learning_rate = 1e-3", f"learning_rate = {M}2.0"),
        "less than or equal to 1",
    ),
    "stiffness_inf": (
        "SPC104",
        edit("slider = { scale = 10.0,", f"slider = {{ scale = {M}inf,"),
        "inf is not a finite number",
    ),
    # [profile.*] entries, checked like the keys they override, at their own lines
    "profile_out_of_range": (
        "SPC104",
        BASE + f'\n[profile.cpu]\n"sim.num_envs" = {M}-5\n',
        "'sim.num_envs': -5 is out of range: input should be greater than or equal to 1 (in [profile.cpu])",
    ),
    "profile_unknown_key": (
        "SPC101",
        BASE + f'\n[profile.cuda]\n{M}"sim.num_env" = 5\n',
        "unknown key 'sim.num_env' (in [profile.cuda])",
    ),
    "profile_not_a_table": (
        "SPC103",
        BASE + f'\n[profile.cpu]\n{M}"sim.dt.x" = 1\n',
        "'sim.dt' is a number, not a table",
    ),
    "profile_index_nan": (
        "SPC104",
        BASE + f'\n[profile.cpu]\n"observations.0.scale" = {M}nan\n',
        "'observations.0.scale': nan is not a finite number (in [profile.cpu])",
    ),
    "profile_index_out_of_range": (
        "SPC104",
        BASE + f'\n[profile.cpu]\n{M}"observations.5.scale" = 1.0\n',
        "'observations' is an array of 2; '5' is not an index of it",
    ),
    "profile_expression": (
        "SPC202",
        BASE + f'\n[profile.cuda]\n"rewards.terms.alive.expr" = "1.0 + {M}foo"\n',
        "unknown signal 'foo' (in [profile.cuda])",
    ),
    "profile_init_height_in_ground": (
        "SPC311",
        BASE + f'\n[profile.cpu]\n"robot.init_height" = {M}0.05\n',
        "link 'rail' reaches 0.025 m below the ground (in [profile.cpu])",
    ),
    "profile_nested_table": (
        "SPC104",
        BASE + f"\n[profile.cuda.ppo]\ngamma = {M}2.0\n",
        "'ppo.gamma': 2.0 is out of range",
    ),
    # scenes
    "object_inside_robot": (
        "SPC403",
        BASE + f'\n[scene.objects.ball]\nshape = "sphere"\nsize = [0.05]\nposition = {M}[0.0, 0.0, 1.5]\n',
        "object 'ball' spawns inside the robot: link 'pole'",
    ),
    "fixed_object_size_scale": (
        "SPC104",
        BASE
        + '\n[scene.objects.table]\nshape = "box"\nsize = [0.4, 0.4, 0.2]\nfixed = true\n'
        + f"position = [0.0, -1.0, 0.1]\nsize_scale = {M}[0.8, 1.2]\n",
        "a fixed object has one size",
    ),
    "scene_urdf_link_unknown": (
        "SPC401",
        BASE
        + '\n[scene.urdfs.table]\nurdf = "../robots/table.urdf"\nposition = [1.5, 1.0, 0.0]\n'
        + f'\n[frames.flap]\nbody = {M}"table/flpa"\n',
        "attached to 'table/flpa', which is no link of cartpole.urdf, no scene URDF link",
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
    for name, (code, marked, *message) in CASES.items():
        text, line, col = place(marked)
        if not text.endswith("\n"):
            text += "\n"
        expect = f"# expect: {code} {line}:{col}\n" + "".join(f"# expect-message: {m}\n" for m in message)
        (HERE / f"bad_{name}.toml").write_text(text + expect, encoding="utf-8")
    print(f"wrote {len(CASES)} cases")


if __name__ == "__main__":
    main()
