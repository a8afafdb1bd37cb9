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

from specc.assemble import assemble
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
    env = assemble(task, backend=backend, device="cpu", num_envs=2, kernels="eager", capture_graph=False).env
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
    env = assemble(task, num_envs=2, kernels="eager", capture_graph=False).env
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
    env = assemble(task, backend=backend, device="cpu", num_envs=2, kernels="eager", capture_graph=False).env
    start = positions(task, env.backend.state())["box"].clone()
    # Right after the reset the frame is where the box was placed (not a stale or empty read).
    assert start[0].tolist() == pytest.approx([1.0, 0.5, 0.055], abs=1e-5)
    moved = positions(task, settle(env, 1.0))["box"] - start
    assert moved[:, 0].tolist() == pytest.approx([0.2, 0.2], abs=0.03)


def test_a_frame_with_an_offset_is_where_mujoco_puts_it(tmp_path):
    task = scene(tmp_path)
    env = assemble(task, num_envs=1, kernels="eager", capture_graph=False).env
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
    env = assemble(task, num_envs=1, kernels="eager", capture_graph=False).env
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


def test_an_object_spawning_inside_the_robot_is_an_error(tmp_path):
    from specc.runtime.backends.mujoco_model import ModelError

    task = scene(tmp_path)
    text = SPEC.format(urdf=ROBOTS / "cartpole.urdf", box_extra="").replace(
        "position = [0.0, 1.0, 0.2]", "position = [0.0, 0.0, 1.3]"
    )
    task = task_from_text(text, tmp_path, "inside.toml")
    with pytest.raises(ModelError, match="object 'can' spawns inside the robot"):
        assemble(task, num_envs=1, kernels="eager", capture_graph=False)
