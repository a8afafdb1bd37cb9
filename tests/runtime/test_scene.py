"""Scene objects, named frames and their signals, on real MuJoCo (and MuJoCo Warp on warp's CPU device).

A spec's objects fall and rest on the ground at their half height, a pushed free box slides and
stops, a frame with an offset on a link is where MuJoCo's own kinematics put it, the contact
force between two named bodies carries the weight resting on it, and bad scenes are positioned
errors.
"""

from __future__ import annotations

import importlib.util

import mujoco
import numpy as np
import pytest
import torch
from kernel_support import ROBOTS, task_from_text
from runtime_support import assemble_task

from specc.diagnostics import DiagnosticSink
from specc.task import check_task

SPEC = """
[task]
name = "scene_test"

[robot]
urdf = "{urdf}"
base = "rail"
fixed_base = true
init_height = 1.0
passive = ["hinge"]

[robot.torque]
slider = {{ scale = 10.0 }}

[sim]
dt = 0.005
decimation = 4

[scene.objects.box]
shape = "box"
size = [0.1, 0.2, 0.1]
mass = 0.5
position = [1.0, 0.5, 0.3]
{box_extra}

[scene.objects.ball]
shape = "sphere"
size = [0.05]
position = [-1.0, 0.5, 0.5]

[scene.objects.can]
shape = "cylinder"
size = [0.04, 0.12]
position = [0.0, 1.0, 0.2]

[scene.objects.table]
shape = "box"
size = [0.4, 0.4, 0.2]
fixed = true
position = [0.0, -1.0, 0.1]

[scene.objects.brick]
shape = "box"
size = [0.1, 0.1, 0.1]
mass = 2.0
position = [0.0, -1.0, 0.3]

[scene.contacts.brick_on_table]
body = "brick"
other = "table"

[frames.tip]
body = "pole"
offset = [0.0, 0.0, 1.0]
rpy = [0.0, 0.3, 0.0]

[[observations]]
name = "objects"
expr = "flatten(frame_pos[box] + frame_pos[ball] + frame_pos[can] + frame_pos[brick])"

[[observations]]
name = "tip"
expr = "frame_pos[tip] + frame_lin_vel[tip] + frame_ang_vel[tip] + frame_quat[tip].xyz"

[[observations]]
name = "pair"
expr = "contact_force[brick_on_table].z"

[rewards.terms.alive]
expr = "1.0"
weight = 1.0

[randomization]
enabled = false
"""


def scene(tmp_path, box_extra: str = ""):
    return task_from_text(SPEC.format(urdf=ROBOTS / "cartpole.urdf", box_extra=box_extra), tmp_path)


def settle(env, seconds: float):
    for _ in range(round(seconds / env.config.policy_dt)):
        env.step_eagerly(torch.zeros(env.num_envs, env.num_actions))
    return env.backend.state()


def positions(task, state) -> dict[str, torch.Tensor]:
    return {name: state.frame_pos[:, i] for i, name in enumerate(task.frames_read)}


BACKENDS = ["mujoco"] + (["mujoco-warp"] if importlib.util.find_spec("mujoco_warp") else [])


@pytest.mark.parametrize("backend", BACKENDS)
def test_objects_fall_and_rest_on_the_ground_at_their_half_height(tmp_path, backend):
    task = scene(tmp_path)
    env = assemble_task(
        task, backend=backend, device="cpu", num_envs=2, kernels="eager", capture_graph=False
    ).env
    state = settle(env, 1.5)
    where = positions(task, state)
    assert where["box"][:, 2].tolist() == pytest.approx([0.05, 0.05], abs=2e-3)
    assert where["ball"][:, 2].tolist() == pytest.approx([0.05, 0.05], abs=2e-3)
    assert where["can"][:, 2].tolist() == pytest.approx([0.06, 0.06], abs=2e-3)
    assert where["brick"][:, 2].tolist() == pytest.approx([0.25, 0.25], abs=2e-3)  # on the 0.2 m table
    # The table carries the brick's weight: the force on the brick from the table is m g upwards.
    pair = state.contact_force[:, -1]
    assert pair[:, 2].tolist() == pytest.approx([2.0 * 9.81] * 2, rel=0.02)


def test_a_free_box_given_a_push_slides_and_friction_stops_it(tmp_path):
    task = scene(
        tmp_path,
        "lin_vel_range = [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]\nposition_range = "
        "[[0.0, 0.0], [0.0, 0.0], [-0.245, -0.245]]",
    )
    env = assemble_task(task, num_envs=2, kernels="eager", capture_graph=False).env
    start = positions(task, env.backend.state())["box"].clone()
    assert start[:, 2].tolist() == pytest.approx([0.055, 0.055], abs=1e-6)
    state = settle(env, 1.0)
    moved = positions(task, state)["box"] - start
    # Sliding at 1 m/s against friction 1 (deceleration g): it stops after about 1 / (2 g) = 5 cm.
    assert (moved[:, 0] > 0.03).all() and (moved[:, 0] < 0.08).all()
    assert state.frame_lin_vel.shape[1] == len(task.frames_read)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_objects_own_friction_governs_its_slide_on_the_ground(tmp_path, backend):
    # Friction 0.25 (the ground's is 1.0): sliding at 1 m/s it decelerates at 0.25 g and stops after
    # 1 / (2 * 0.25 g) = 20 cm, four times as far as at the ground's friction.
    task = scene(
        tmp_path,
        "friction = 0.25\nlin_vel_range = [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]\nposition_range = "
        "[[0.0, 0.0], [0.0, 0.0], [-0.245, -0.245]]",
    )
    env = assemble_task(
        task, backend=backend, device="cpu", num_envs=2, kernels="eager", capture_graph=False
    ).env
    start = positions(task, env.backend.state())["box"].clone()
    # Right after the reset the frame is where the box was placed (not a stale or empty read).
    assert start[0].tolist() == pytest.approx([1.0, 0.5, 0.055], abs=1e-5)
    moved = positions(task, settle(env, 1.0))["box"] - start
    assert moved[:, 0].tolist() == pytest.approx([0.2, 0.2], abs=0.03)


def test_a_frame_with_an_offset_is_where_mujoco_puts_it(tmp_path):
    task = scene(tmp_path)
    env = assemble_task(task, num_envs=1, kernels="eager", capture_graph=False).env
    backend = env.backend
    env.step_eagerly(torch.tensor([[1.0]]))  # the cart accelerates, the pole swings: nothing is at rest
    state = settle(env, 0.2)
    model, data = backend.model, mujoco.MjData(backend.model)
    data.qpos[:] = backend._state[0, backend._qpos0 : backend._qpos0 + model.nq]
    data.qvel[:] = backend._state[0, backend._qvel0 : backend._qvel0 + model.nv]
    mujoco.mj_forward(model, data)
    pole = model.body("pole").id
    rotation = data.xmat[pole].reshape(3, 3)
    expected = data.xpos[pole] + rotation @ np.array([0.0, 0.0, 1.0])
    row = task.frames_read.index("tip")
    assert state.frame_pos[0, row].numpy() == pytest.approx(expected, abs=1e-5)
    offset = np.zeros(4)
    mujoco.mju_axisAngle2Quat(offset, np.array([0.0, 1.0, 0.0]), 0.3)
    quat = np.zeros(4)
    mujoco.mju_mulQuat(quat, data.xquat[pole], offset)
    assert state.frame_quat[0, row].numpy() == pytest.approx(quat, abs=1e-5)
    velocity = np.zeros(6)  # (angular, linear) at the body's centre of mass, world frame
    mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_BODY, pole, velocity, 0)
    tip_velocity = velocity[3:] + np.cross(velocity[:3], expected - data.xipos[pole])
    assert state.frame_lin_vel[0, row].numpy() == pytest.approx(tip_velocity, abs=1e-4)
    assert state.frame_ang_vel[0, row].numpy() == pytest.approx(velocity[:3], abs=1e-4)
    assert np.linalg.norm(tip_velocity) > 0.1


def test_only_the_frames_a_spec_reads_are_computed(tmp_path):
    task = scene(tmp_path)
    assert task.frames_read == ["box", "ball", "can", "brick", "tip"]  # not the table: nothing reads it
    text = SPEC.format(urdf=ROBOTS / "cartpole.urdf", box_extra="")
    lean = text.split("[[observations]]")[0] + '[[observations]]\nname = "q"\nexpr = "joint_pos"\n'
    lean += '[rewards.terms.alive]\nexpr = "1.0"\nweight = 1.0\n'
    task = task_from_text(lean, tmp_path, "lean.toml")
    assert task.frames_read == [] and not task.frame_velocities_read
    env = assemble_task(task, num_envs=1, kernels="eager", capture_graph=False).env
    assert env.backend.state().frame_pos.shape == (1, 0, 3)


@pytest.mark.parametrize(
    ("edit", "code", "message"),
    [
        (('body = "pole"', 'body = "poel"'), "SPC401", "did you mean 'pole'"),
        (("frame_pos[box]", "frame_pos[bx]"), "SPC210", "did you mean 'box'"),
        (('other = "table"', 'other = "tabel"'), "SPC401", "did you mean 'table'"),
        (("position = [-1.0, 0.5, 0.5]", "position = [-1.0, 0.5, 0.02]"), "SPC402", "below the ground"),
        (("[scene.objects.can]", "[scene.objects.pole]"), "SPC404", "name of a link"),
    ],
)
def test_bad_scenes_are_positioned_errors(tmp_path, edit, code, message):
    text = SPEC.format(urdf=ROBOTS / "cartpole.urdf", box_extra="").replace(*edit)
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    sink = DiagnosticSink(str(path))
    assert check_task(path, sink) is None
    found = [d for d in sink.items if d.code == code and message in d.message + (d.fix or "")]
    assert found, [(d.code, d.message, d.fix) for d in sink.items]
    line = text.splitlines()[found[0].position.line - 1]
    assert edit[1].split("=")[-1].strip().strip('"[]').split(",")[0] in line or code == "SPC404"


def lint(text: str, tmp_path, name: str = "spec.toml") -> tuple[str, DiagnosticSink]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    sink = DiagnosticSink(str(path))
    check_task(path, sink)
    return text, sink


def test_lint_reports_an_object_spawning_inside_the_robot_at_its_position(tmp_path):
    text = SPEC.format(urdf=ROBOTS / "cartpole.urdf", box_extra="").replace(
        "position = [0.0, 1.0, 0.2]", "position = [0.0, 0.0, 1.3]"
    )
    text, sink = lint(text, tmp_path)
    (found,) = [d for d in sink.items if d.code == "SPC403"]
    assert "object 'can' spawns inside the robot: link 'pole' reaches at least 10 mm into it" in found.message
    assert text.splitlines()[found.position.line - 1] == "position = [0.0, 0.0, 1.3]"


def test_an_overlap_lint_cannot_see_is_an_error_when_the_model_is_built(tmp_path):
    from specc.runtime.backends.mujoco_model import ModelError

    # A thin bar through the pole: no corner of either lies inside the other, so lint passes it.
    text = SPEC.format(urdf=ROBOTS / "cartpole.urdf", box_extra="").replace(
        "size = [0.1, 0.2, 0.1]\nmass = 0.5\nposition = [1.0, 0.5, 0.3]",
        "size = [0.3, 0.004, 0.004]\nmass = 0.5\nposition = [0.1, 0.0, 1.5]",
    )
    task = task_from_text(text, tmp_path, "bar.toml")
    with pytest.raises(ModelError, match="object 'box' spawns inside the robot: it overlaps link 'pole'"):
        assemble_task(task, num_envs=1, kernels="eager", capture_graph=False)


def sized_scene(tmp_path, scale: str):
    """The scene with the brick's size randomized (it falls onto the fixed table) and the box's (onto the
    ground)."""
    text = (
        SPEC.format(urdf=ROBOTS / "cartpole.urdf", box_extra=f"size_scale = {scale}")
        .replace("mass = 2.0\n", f"mass = 2.0\nsize_scale = {scale}\n")
        .replace("enabled = false", "enabled = true")
    )
    return task_from_text(text, tmp_path, "sized.toml")


def object_sizes(backend, geom: int) -> np.ndarray:
    """The size parameters of one geom in every env, as the backend simulates them."""
    if hasattr(backend, "models"):
        return np.stack([m.geom_size[geom] for m in backend.models])
    return backend.params["geom_size"][:, geom].numpy()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_box_drawn_larger_rests_higher_on_the_ground_and_on_a_table(tmp_path, backend):
    task = sized_scene(tmp_path, "[0.5, 2.0]")
    env = assemble_task(
        task, backend=backend, device="cpu", num_envs=3, kernels="eager", capture_graph=False
    ).env
    physics = env.backend
    brick, box = (int(physics.layout.object_geoms[k]) for k in (4, 0))
    scale = object_sizes(physics, brick)[:, 0] / 0.05  # the brick's nominal half extent
    assert scale.min() >= 0.5 and scale.max() <= 2.0 and np.ptp(scale) > 0.05  # drawn per env
    box_scale = object_sizes(physics, box)[:, 2] / 0.05
    assert np.allclose(object_sizes(physics, box) / box_scale[:, None], [0.05, 0.1, 0.05], atol=1e-6)
    state = settle(env, 1.5)
    where = positions(task, state)
    # Collision uses the drawn size: the box rests on the ground at its half height, the brick on the
    # 0.2 m table at the table's top plus its half height (a stale bounding box would let it sink).
    assert where["box"][:, 2].tolist() == pytest.approx((0.05 * box_scale).tolist(), abs=3e-3)
    assert where["brick"][:, 2].tolist() == pytest.approx((0.2 + 0.05 * scale).tolist(), abs=3e-3)
    # The mass is kept: the table carries the brick's weight, whatever its size.
    assert state.contact_force[:, -1, 2].tolist() == pytest.approx([2.0 * 9.81] * 3, rel=0.02)


def test_without_randomization_every_object_keeps_its_nominal_size(tmp_path):
    task = sized_scene(tmp_path, "[2.0, 2.0]")
    env = assemble_task(task, num_envs=2, kernels="eager", capture_graph=False, randomize=False).env
    brick = int(env.backend.layout.object_geoms[4])
    assert object_sizes(env.backend, brick).tolist() == [[0.05, 0.05, 0.05]] * 2
    assert positions(task, env.backend.state())["brick"][:, 2].tolist() == pytest.approx([0.3, 0.3])


def test_an_object_spawning_inside_the_robot_at_its_largest_size_is_an_error(tmp_path):
    text = (
        SPEC.format(urdf=ROBOTS / "cartpole.urdf", box_extra="")
        .replace("position = [0.0, 1.0, 0.2]", "position = [0.0, 0.35, 1.3]\nsize_scale = [1.0, 10.0]")
        .replace("enabled = false", "enabled = true")
    )
    _, sink = lint(text.replace("10.0]", "1.0]"), tmp_path, "fits.toml")
    assert not sink.items  # clear of the pole at its nominal size
    _, sink = lint(text, tmp_path, "grown.toml")
    assert [d.code for d in sink.items] == ["SPC403"]
    assert "object 'can' spawns inside the robot at its largest size" in sink.items[0].message


URDF_SCENE = """
[task]
name = "table_test"

[robot]
urdf = "{robot}"
base = "rail"
fixed_base = true
init_height = 1.0
passive = ["hinge"]

[robot.torque]
slider = {{ scale = 10.0 }}

[sim]
dt = 0.005
decimation = 4

[scene.urdfs.table]
urdf = "{table}"
position = [1.5, 1.0, 0.0]

[scene.objects.box]
shape = "box"
size = [0.1, 0.1, 0.1]
mass = 0.5
position = [1.4, 1.0, 0.6]

[frames.flap_tip]
body = "table/flap"
offset = [0.2, 0.0, 0.0]

[frames.table_top]
body = "table/top"

[scene.contacts.box_on_table]
body = "box"
other = "table_top"

[[observations]]
name = "where"
expr = "frame_pos[box] + frame_pos[flap_tip] + frame_pos[table_top]"

[[observations]]
name = "pair"
expr = "contact_force[box_on_table].z"

[rewards.terms.alive]
expr = "1.0"
weight = 1.0

[randomization]
enabled = false
"""


def table_scene(tmp_path, edit: tuple[str, str] = ("", "")):
    text = URDF_SCENE.format(robot=ROBOTS / "cartpole.urdf", table=ROBOTS / "table.urdf")
    return task_from_text(text.replace(*edit), tmp_path, "table.toml")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_second_urdf_is_simulated_and_its_links_are_frames(tmp_path, backend):
    task = table_scene(tmp_path)
    env = assemble_task(
        task, backend=backend, device="cpu", num_envs=2, kernels="eager", capture_graph=False
    ).env
    state = settle(env, 1.5)
    where = positions(task, state)
    # The box lands on the table's top (surface at 0.42 m) and the top carries its weight.
    assert where["box"][:, 2].tolist() == pytest.approx([0.47, 0.47], abs=3e-3)
    assert state.contact_force[:, -1, 2].tolist() == pytest.approx([0.5 * 9.81] * 2, rel=0.02)
    # The flap, level at the start, swung down on its passive hinge: its tip hangs 0.2 m below the edge.
    assert where["flap_tip"].numpy() == pytest.approx(np.array([[1.8, 1.0, 0.2]] * 2), abs=5e-3)
    assert where["table_top"].numpy() == pytest.approx(np.array([[1.5, 1.0, 0.0]] * 2), abs=1e-6)
    # The table is no part of the robot: randomization of the robot's links and friction leaves it alone.
    model, layout = env.backend.model, env.backend.layout
    table = {model.body(name).id for name in ("table/top", "table/flap")}
    assert not table & set(layout.limb_bodies.tolist())
    assert not table & {int(model.geom_bodyid[g]) for g in layout.robot_geoms}


@pytest.mark.parametrize(
    ("edit", "code", "message"),
    [
        (('body = "table/flap"', 'body = "table/flpa"'), "SPC401", "did you mean 'table/flap'"),
        (("table.urdf", "tabel.urdf"), "SPC301", "cannot read URDF"),
        (("[scene.urdfs.table]", "[scene.urdfs.rail]"), "SPC404", "name of an object, a link"),
    ],
)
def test_bad_scene_urdfs_are_positioned_errors(tmp_path, edit, code, message):
    text = URDF_SCENE.format(robot=ROBOTS / "cartpole.urdf", table=ROBOTS / "table.urdf")
    text = text.replace(*edit).replace('"table/', '"rail/' if "rail" in edit[1] else '"table/')
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    sink = DiagnosticSink(str(path))
    assert check_task(path, sink) is None
    found = [d for d in sink.items if d.code == code and message in d.message + (d.fix or "")]
    assert found and len(sink.items) == 1, [(d.code, d.message, d.fix) for d in sink.items]
    line = text.splitlines()[found[0].position.line - 1]
    assert edit[1].split(".")[-1].strip('"[]') in line or edit[1].split("/")[-1].strip('"') in line


def test_a_second_urdf_spawning_inside_the_robot_is_an_error(tmp_path):
    from specc.runtime.backends.mujoco_model import ModelError

    task = table_scene(tmp_path, ("position = [1.5, 1.0, 0.0]", "position = [0.0, 0.0, 0.55]"))
    with pytest.raises(ModelError, match="scene URDF 'table' spawns inside the robot"):
        assemble_task(task, num_envs=1, kernels="eager", capture_graph=False)


def test_the_isaac_gym_target_refuses_a_scene_urdf_at_its_table(tmp_path):
    import subprocess

    path = tmp_path / "table.toml"
    path.write_text(URDF_SCENE.format(robot=ROBOTS / "cartpole.urdf", table=ROBOTS / "table.urdf"))
    done = subprocess.run(
        ["specc", "compile", str(path), "--target", "isaacgym", "--emit", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    line = URDF_SCENE.splitlines().index("[scene.urdfs.table]") + 1
    assert f"table.toml:{line}:" in done.stdout
    assert "the Isaac Gym target does not implement scene URDFs yet" in done.stdout


def test_lint_sees_an_object_inside_a_robot_mesh(tmp_path):
    # The Panda's links are binary STL meshes: a box inside its base link has no mesh vertex inside it,
    # but its centre is inside the closed mesh.
    text = (ROBOTS.parent.parent / "tasks" / "panda_push.toml").read_text(encoding="utf-8")
    text = text.replace("position = [0.47, 0.0, 0.041]", "position = [0.0, 0.0, 0.131]")
    text, sink = lint(text, tmp_path, "panda_push.toml")
    assert [d.code for d in sink.items] == ["SPC403"]
    assert "link 'panda_link0'" in sink.items[0].message
    assert text.splitlines()[sink.items[0].position.line - 1] == "position = [0.0, 0.0, 0.131]"
