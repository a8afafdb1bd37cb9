"""The Isaac Gym target beyond a legged robot: effort and passive joints (cartpole), a scene object and
named frames (ball_balance), locked joints, a frame on a welded link and target commands (panda_reach),
and the spec settings it honours or refuses at their positions.
"""

from __future__ import annotations

import math

import pytest
import torch
from isaacgym_support import TASKS, compile_isaacgym, forget_modules, import_task, make_task

from specc.robot.kinematics import link_poses


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scene")
    for task in ("cartpole", "ball_balance", "panda_reach"):
        done = compile_isaacgym(TASKS / f"{task}.toml", folder)
        assert done.returncode == 0, done.stdout + done.stderr
    return folder


@pytest.fixture
def package(packages, monkeypatch, request):
    name = request.param
    yield import_task(packages, f"{name}_isaacgym", monkeypatch)
    forget_modules(f"{name}_isaacgym")


def variant(folder, task: str, edit) -> tuple:
    """`tasks/<task>.toml` edited by `edit(text) -> text`, written beside the shipped robots' folder."""
    text = edit((TASKS / f"{task}.toml").read_text(encoding="utf-8"))
    text = text.replace('urdf = "robots/', f'urdf = "{TASKS}/robots/')
    path = folder / f"{task}.toml"
    path.write_text(text, encoding="utf-8")
    return path, text


# -- cartpole: an effort actuator and a passive joint ------------------------------------------------
@pytest.mark.parametrize("package", ["cartpole"], indirect=True)
def test_an_effort_actuator_pushes_with_scale_times_action_clipped_to_its_effort(package):
    task = make_task(package, num_envs=3)
    data = package.data
    assert data.ACTION_IS_POSITION == [False] and data.ACTION_SCALE == [10.0] and data.EFFORT == [20.0]
    task.sim.applied_log.clear()
    task.step(torch.tensor([[0.5], [-1.0], [3.0]]))  # 5 N, -10 N, and 30 N clipped to 20 N
    slider, hinge = (task.dof_index[data.JOINT_NAMES.index(n)] for n in ("slider", "hinge"))
    for applied in task.sim.applied_log:
        forces = applied.view(3, -1)
        assert forces[:, slider].tolist() == pytest.approx([5.0, -10.0, 20.0])
        assert forces[:, hinge].tolist() == [0.0, 0.0, 0.0]  # passive: no actuator
    assert task.torques[:, data.JOINT_NAMES.index("hinge")].tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("package", ["cartpole"], indirect=True)
def test_resets_draw_the_spec_s_joint_offsets_and_velocities(package):
    task = make_task(package, num_envs=256)
    data = package.data
    state = task.sim.dof.view(256, -1, 2)
    slider, hinge = (task.dof_index[data.JOINT_NAMES.index(n)] for n in ("slider", "hinge"))
    for dof, (low, high) in ((slider, (-0.5, 0.5)), (hinge, (-0.2, 0.2))):
        drawn = state[:, dof, 0]
        assert low <= float(drawn.min()) < low + 0.05 and high - 0.05 < float(drawn.max()) <= high
    assert -0.2 <= float(state[:, hinge, 1].min()) < -0.15 and 0.15 < float(state[:, hinge, 1].max()) <= 0.2
    assert state[:, slider, 1].tolist() == [0.0] * 256  # the spec draws no slider velocity


@pytest.mark.parametrize("package", ["cartpole"], indirect=True)
def test_a_continuous_joint_is_an_unlimited_dof(package):
    task = make_task(package, num_envs=1)
    props = task.sim.envs[0].dof_props
    names = package.data.JOINT_NAMES
    assert bool(props["hasLimits"][task.dof_index[names.index("hinge")]]) is False
    slider = props[task.dof_index[names.index("slider")]]
    assert (bool(slider["hasLimits"]), float(slider["lower"]), float(slider["upper"])) == (True, -3.0, 3.0)


def test_a_joint_whose_limits_are_equal_is_unlimited_as_in_specc(tmp_path, monkeypatch):
    urdf = (TASKS / "robots" / "cartpole.urdf").read_text(encoding="utf-8")
    (tmp_path / "robots").mkdir()
    assert urdf.count('lower="-3.0" upper="3.0"') == 1
    (tmp_path / "robots" / "cartpole.urdf").write_text(
        urdf.replace('lower="-3.0" upper="3.0"', 'lower="0.5" upper="0.5"')
    )
    text = (
        (TASKS / "cartpole.toml")
        .read_text(encoding="utf-8")
        .replace("slider = [-0.5, 0.5]", "slider = [0.0, 0.0]")
    )
    text = text.replace("[robot.torque]", "[robot.default_joint_pos]\nslider = 0.5\n\n[robot.torque]")
    (tmp_path / "cartpole.toml").write_text(text)
    done = compile_isaacgym(tmp_path / "cartpole.toml", tmp_path / "out")
    assert done.returncode == 0, done.stdout
    module = import_task(tmp_path / "out", "cartpole_isaacgym", monkeypatch)
    try:
        task = make_task(module, num_envs=1)
        slider = task.dof_index[module.data.JOINT_NAMES.index("slider")]
        assert bool(task.sim.envs[0].dof_props["hasLimits"][slider]) is False
        assert (
            module.data.JOINT_LOWER[module.data.JOINT_NAMES.index("slider")] == -1000.0 - 0.5
        )  # specc: -1000 from the default
    finally:
        forget_modules("cartpole_isaacgym")


# -- ball_balance: a scene object and frames ---------------------------------------------------------
@pytest.mark.parametrize("package", ["ball_balance"], indirect=True)
def test_a_scene_object_is_an_actor_with_specc_s_mass_reset_where_the_spec_draws_it(package):
    task = make_task(package, num_envs=64)
    sim = task.sim
    assert len(sim.actors) == 128 and [a.asset.path.name for a in sim.envs[0].actors] == [
        "robot.urdf",
        "0.urdf",
    ]
    ball = sim.envs[0].actors[1]
    assert ball.body_props[0].mass == pytest.approx(0.05) and ball.asset.options.fix_base_link is False
    assert ball.body_props[0].inertia.x.x == pytest.approx(0.4 * 0.05 * 0.03**2)
    states = sim.root.view(64, 2, 13)[:, 1]
    local = states[:, 0:3] - task.env_origins
    assert bool((local[:, 0].abs() <= 0.1).all() and (local[:, 1].abs() <= 0.1).all())
    assert local[:, 2].tolist() == pytest.approx([0.555] * 64)
    assert float(local[:, 0].std()) > 0.03 and float(states[:, 7].abs().max()) > 0.15
    assert bool((states[:, 7:9].abs() <= 0.2).all()) and states[:, 9:13].abs().max() == 0


@pytest.mark.parametrize("package", ["ball_balance"], indirect=True)
def test_frames_read_the_bodies_that_hold_them_at_their_origins(package):
    task = make_task(package, num_envs=2)
    data = package.data
    frames = {f["name"]: f for f in data.FRAMES}
    assert frames["ball"]["body"] == "ball" and frames["plate_centre"]["body"] == "plate"
    plate = task.sim.asset.body_names.index("plate")
    ball = task.num_bodies  # the object's body follows the robot's
    bodies = task.sim.bodies.view(2, -1, 13)
    bodies[:, plate, 0:3] = task.env_origins + torch.tensor([0.0, 0.0, 0.5])
    turn = math.pi / 2  # a quarter turn about x: the plate's +z offset points along -y
    bodies[:, plate, 3:7] = torch.tensor([math.sin(turn / 2), 0.0, 0.0, math.cos(turn / 2)])
    bodies[:, plate, 7:13] = torch.tensor([0.0, 0.0, 0.0, 2.0, 0.0, 0.0])
    task.gym.refresh_rigid_body_state_tensor(task.sim)
    position, quat, velocity, spin = task._frames()
    names = [f["name"] for f in data.FRAMES]
    centre = names.index("plate_centre")
    com = task.body_com[0, plate]
    for env in range(2):
        assert position[env, centre].tolist() == pytest.approx([0.0, -0.02, 0.5], abs=1e-6)
    # The frame's origin moves with w x r from the body's centre of mass (PhysX's velocity point).
    arm = torch.tensor([0.0, -0.02, 0.0]) - torch.tensor([com[0], -com[2], com[1]])
    want = torch.cross(torch.tensor([2.0, 0.0, 0.0]), arm, dim=0)
    assert velocity[0, centre].tolist() == pytest.approx(want.tolist(), abs=1e-6)
    assert torch.allclose(
        position[:, names.index("ball")], bodies[:, ball, 0:3] - task.env_origins, atol=1e-6
    )


def test_a_contact_pair_is_refused_at_its_position(tmp_path):
    path, text = variant(
        tmp_path,
        "ball_balance",
        lambda t: t.replace(
            "[values]\n",
            '[scene.contacts.touch]\nbody = "ball"\nother = "plate_centre"\n\n[values]\n',
        ).replace(
            "[rewards.terms.alive]\n",
            '[rewards.terms.touching]\nexpr = "sum(norm(contact_force[touch]))"\nweight = 0.1\n\n[rewards.terms.alive]\n',
        ),
    )
    done = compile_isaacgym(path, tmp_path / "out")
    line = text.splitlines().index("[scene.contacts.touch]") + 1
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        f"ball_balance.toml:{line}:" in done.stdout and "does not implement contact pairs" in done.stdout
    ), done.stdout
    assert not (tmp_path / "out").exists()


def test_an_object_size_scale_is_refused_at_its_position(tmp_path):
    path, text = variant(
        tmp_path,
        "ball_balance",
        lambda t: t.replace(
            "lin_vel_range = [[-0.2, 0.2], [-0.2, 0.2], [0.0, 0.0]]\n",
            "lin_vel_range = [[-0.2, 0.2], [-0.2, 0.2], [0.0, 0.0]]\nsize_scale = [0.8, 1.2]\n",
        ),
    )
    done = compile_isaacgym(path, tmp_path / "out")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("size_scale"))
    assert done.returncode == 1 and f"ball_balance.toml:{line}:1: SPC501 [error]" in done.stdout, done.stdout


# -- panda_reach: locked joints, a frame on a welded link, target commands --------------------------
@pytest.mark.parametrize("package", ["panda_reach"], indirect=True)
def test_locked_joints_are_welded_and_a_frame_on_a_welded_link_keeps_its_pose(package):
    from isaacgym_support import spec_module

    task = make_task(package, num_envs=1)
    data = package.data
    assert task.sim.asset.dof_names == sorted(f"panda_joint{i}" for i in range(1, 8))  # fingers locked
    frame = data.FRAMES[0]
    assert (frame["name"], frame["body"]) == (
        "ee",
        "panda_link7",
    )  # the tcp, hand and fingers merged into link 7
    _, checked = spec_module(TASKS / "panda_reach.toml")
    pose = dict(zip(data.JOINT_NAMES, data.DEFAULT_JOINT_POS)) | checked.robot.locked
    poses = link_poses(checked.robot.urdf, pose, 0.0)
    link7, tcp = poses["panda_link7"], poses["panda_hand_tcp"]
    delta = [tcp.position[i] - link7.position[i] for i in range(3)]
    offset = [sum(link7.rotation[r][i] * delta[r] for r in range(3)) for i in range(3)]
    assert frame["offset"] == pytest.approx(offset, abs=1e-9)


@pytest.mark.parametrize("package", ["panda_reach"], indirect=True)
def test_target_commands_are_drawn_at_resets_only_with_resample_reset(package):
    task = make_task(package, num_envs=64)
    data = package.data
    assert data.RESAMPLE == "reset"
    start = data.COMMAND_NAMES.index("target.x")
    target = task.commands[:, start : start + 3]
    for axis, (low, high) in enumerate(([0.35, 0.65], [-0.25, 0.25], [0.15, 0.55])):
        assert low <= float(target[:, axis].min()) and float(target[:, axis].max()) <= high
        assert float(target[:, axis].std()) > 0.05
    before = task.commands.clone()
    task.resample_every = 1  # even a due interval does not redraw: the spec resamples at resets only
    task.step(torch.zeros(64, 7))
    done = task.reset_buf
    assert torch.equal(task.commands[~done], before[~done])


def test_resample_interval_keeps_commands_across_resets(tmp_path, monkeypatch):
    path, _ = variant(
        tmp_path,
        "anymal_walk",
        lambda t: t.replace("resample_s = 10.0", 'resample_s = 10.0\nresample = "interval"'),
    )
    done = compile_isaacgym(path, tmp_path / "out")
    assert done.returncode == 0, done.stdout
    module = import_task(tmp_path / "out", "anymal_walk_isaacgym", monkeypatch)
    try:
        task = make_task(module, num_envs=4)
        before = task.commands.clone()
        task.sim.root[1, 2] = 0.1  # env 1 ends its episode
        task.step(torch.zeros(4, 12))
        assert task.reset_buf.tolist() == [False, True, False, False]
        assert torch.equal(task.commands, before)  # its reset drew no command
        task.resample_every = 1
        task.step(torch.zeros(4, 12))
        assert not torch.equal(task.commands[:, 0], before[:, 0])  # the interval did
    finally:
        forget_modules("anymal_walk_isaacgym")


def test_pd_group_scales_scale_their_own_joints(tmp_path, monkeypatch):
    path, _ = variant(
        tmp_path,
        "anymal_walk",
        lambda t: t.replace(
            '"*" = { stiffness = 80.0, damping = 2.0, effort = 80.0 }',
            '"*" = { stiffness = 80.0, damping = 2.0, effort = 80.0 }\n"?H_*" = { stiffness = 80.0, damping = 2.0, effort = 80.0, scale = 0.25 }',
        ),
    )
    done = compile_isaacgym(path, tmp_path / "out")
    assert done.returncode == 0, done.stdout
    module = import_task(tmp_path / "out", "anymal_walk_isaacgym", monkeypatch)
    try:
        data = module.data
        hind = [name[1] == "H" for name in data.JOINT_NAMES]
        assert data.ACTION_SCALE == [0.25 if h else 0.5 for h in hind]
        task = make_task(module, num_envs=1)
        targets = torch.tensor(data.DEFAULT_JOINT_POS) + torch.tensor(data.ACTION_SCALE)
        state = task.sim.dof.view(1, -1, 2)
        state[:, task.dof_index, 0] = targets
        state[:, task.dof_index, 1] = 0.0
        task.gym.refresh_dof_state_tensor(task.sim)
        task.sim.applied_log.clear()
        task.step(torch.ones(1, 12))
        assert task.sim.applied_log[0].abs().max() < 1e-4  # every joint sits at its own target
    finally:
        forget_modules("anymal_walk_isaacgym")
