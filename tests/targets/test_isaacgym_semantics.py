"""The emitted Isaac Gym task against the stand-in's model of Isaac Gym's documented semantics.

Each test states what specc's MuJoCo runtime does and checks that the emitted package makes Isaac
Gym do the same: the robot's mass (Isaac Gym's default density fills links without `<inertial>`),
no damping or velocity caps on free bodies, the base velocity of the base frame's origin (PhysX
reports the centre of mass's), specc's explicit PD law with its effort limit (PhysX's position drive
is implicit), and an env that still resets after rsl_rl's `torch.inference_mode()` rollouts.
"""

from __future__ import annotations

import pytest
import torch
from isaacgym_support import TASKS, compile_isaacgym, forget_modules, import_task, make_task, spec_module

from specc.runtime.backends.mujoco_model import build_model
from specc.runtime.rotations import quat_rotate, quat_rotate_inverse


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("isaacgym_semantics")
    done = compile_isaacgym(TASKS / "anymal_walk.toml", folder)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


@pytest.fixture
def anymal(emitted, monkeypatch):
    yield import_task(emitted, "anymal_walk_isaacgym", monkeypatch)
    forget_modules("anymal_walk_isaacgym")


def specc_model(task_name: str):
    """specc's MuJoCo model of the task's robot, as `specc run` builds it."""
    from specc.runtime.assemble import backend_options

    module, task = spec_module(TASKS / f"{task_name}.toml")
    options = backend_options(module, 1, "cpu")
    model, layout = build_model(
        task.robot.urdf, list(module.JOINT_NAMES), options, list(module.CONTACT_BODIES)
    )
    return model, layout, module


def test_the_base_weighs_what_specc_s_import_gives_it(anymal):
    """ANYmal's `base` link has five collision shapes and no `<inertial>`: MuJoCo makes it massless, Isaac
    Gym gives it AssetOptions.density x their volume (29 kg at the default 1000 kg/m^3)."""
    model, layout, _ = specc_model("anymal_walk")
    task = make_task(anymal)
    base = task.sim.asset.body_names.index("base")
    specc_base = float(model.body_mass[layout.base_group_bodies].sum())  # the base and the links welded to it
    isaacgym_base = task.sim.envs[0].body_props[base].mass
    assert isaacgym_base == pytest.approx(specc_base, abs=1e-3), (isaacgym_base, specc_base)


def test_a_free_base_keeps_its_velocity_without_contacts(anymal):
    """MuJoCo has no body damping and no velocity caps; Isaac Gym's defaults damp spin (0.5) and cap it
    at 64 rad/s."""
    task = make_task(anymal, num_envs=2)
    task.sim.root[:, 10:13] = torch.tensor([0.0, 0.0, 100.0])
    task.sim.root[:, 7:10] = torch.tensor([2.0, 0.0, 0.0])
    task.step(torch.zeros(2, 12))
    assert task.sim.root[:, 12].tolist() == pytest.approx([100.0, 100.0], rel=1e-6)
    assert task.sim.root[:, 7].tolist() == pytest.approx([2.0, 2.0], rel=1e-6)


def test_the_base_velocity_is_the_velocity_of_the_base_frame_origin(anymal):
    """PhysX's root state holds the centre of mass's velocity; specc's signals the base frame origin's
    (the free joint's): v_origin = v_com - w x (R com)."""
    task = make_task(anymal, num_envs=2)
    data = anymal.data
    spin = torch.tensor([0.5, -1.0, 3.0])
    task.sim.root[:, 7:10] = torch.tensor([1.0, 0.2, 0.0])
    task.sim.root[:, 10:13] = spin
    obs, *_ = task.step(torch.zeros(2, 12))
    root = task.sim.root
    com = task.sim.envs[0].body_props[task.sim.asset.body_names.index(data.BASE_BODY)].com
    com_world = quat_rotate(root[:, [6, 3, 4, 5]], torch.tensor([[com.x, com.y, com.z]]).expand(2, 3))
    origin_velocity = root[:, 7:10] - torch.cross(root[:, 10:13], com_world, dim=-1)
    assert float(torch.cross(spin, com_world[0], dim=-1).norm()) > 0.02  # the COM is off the origin
    base_frame = quat_rotate_inverse(root[:, [6, 3, 4, 5]], origin_velocity)
    name, offset, size, scale = anymal.kernels.OBSERVATION_LAYOUT[0]
    assert (name, size) == ("base_lin_vel", 3)
    assert torch.allclose(obs[:, offset : offset + size], scale * base_frame, atol=1e-5)


def test_joint_torques_follow_specc_s_pd_law_clipped_to_the_effort(anymal):
    """specc's actuator: clip(kp (target - q) - kd dq, +-effort) on the state at the start of each physics
    step (legged_gym computes it so too); PhysX's position drive solves the spring implicitly."""
    task = make_task(anymal, num_envs=3)
    _, _, module = specc_model("anymal_walk")
    env, backend = module.ENV, module.BACKEND
    dofs = task.sim.dof.view(3, -1, 2)
    index = task.dof_index
    dofs[:, index, 1] = torch.linspace(
        -60.0, 60.0, 12
    )  # fast joints: the damping term reaches the effort limit
    dofs[:, index, 0] += torch.linspace(-0.3, 0.3, 12)
    task.gym.refresh_dof_state_tensor(task.sim)
    q, dq = dofs[:, index, 0].clone(), dofs[:, index, 1].clone()
    actions = torch.tensor([[-1.0] * 12, [0.3] * 12, [1.0] * 12])
    task.sim.applied_log.clear()
    task.step(actions)
    kp = torch.tensor([a["stiffness"] for a in backend["actuators"]])
    kd = torch.tensor([a["damping"] for a in backend["actuators"]])
    effort = torch.tensor([a["effort"] for a in backend["actuators"]])
    target = torch.tensor(env["action_offset"]) + torch.tensor(env["action_scale"]) * actions
    want = torch.clamp(kp * (target - q) - kd * dq, -effort, effort)
    applied = task.sim.applied_log[0].view(3, -1)[:, index]
    assert torch.allclose(applied, want, atol=1e-3), (applied - want).abs().max()
    assert bool((want.abs() == effort).any())  # the test reaches the effort limit


def test_an_env_resets_after_inference_mode_rollouts(anymal):
    """rsl_rl 1.0.2 collects rollouts under torch.inference_mode(); a tensor the step created there cannot be
    updated in place outside it, so a later env.reset() (e.g. before evaluation) must not try."""
    task = make_task(anymal, num_envs=2)
    with torch.inference_mode():
        for _ in range(3):
            task.step(torch.ones(2, 12))
    obs, _ = task.reset()
    task.step(torch.zeros(2, 12))
    assert obs.shape == (2, 48)


def test_no_buffer_of_the_task_is_an_inference_tensor_after_a_rollout(anymal):
    """Any buffer made under inference mode would break the next in-place update outside it."""
    task = make_task(anymal, num_envs=2, randomize=True)
    with torch.inference_mode():
        for _ in range(3):
            task.step(torch.ones(2, 12))
    held = {name: value for name, value in vars(task).items() if isinstance(value, torch.Tensor)}
    assert len(held) > 30
    assert [name for name, value in held.items() if value.is_inference()] == []


def test_the_contact_buffer_is_never_below_legged_gym_s(tmp_path, monkeypatch):
    """anymal_rough's MuJoCo Warp buffer of 48 contacts per env would give PhysX 196,608 pairs at 4,096 envs."""
    spec = tmp_path / "anymal_walk.toml"
    spec.write_text(
        (TASKS / "anymal_walk.toml").read_text().replace("[sim]\n", "[sim]\nmax_contacts_per_env = 48\n"),
        encoding="utf-8",
    )
    done = compile_isaacgym(spec, tmp_path / "out")
    assert done.returncode == 0, done.stdout
    module = import_task(tmp_path / "out", "anymal_walk_isaacgym", monkeypatch)
    try:
        assert module.data.MAX_CONTACTS_PER_ENV == 48
        assert make_task(module, num_envs=4).sim.params.physx.max_gpu_contact_pairs == 2**23
        large = module.SpeccTask.__new__(module.SpeccTask)  # only its sim: 200,000 envs need more than 2^23
        large.gym, large.num_envs, large.use_gpu_pipeline, large.randomize = task_gym(), 200_000, False, False
        assert large._create_sim("cpu", -1).params.physx.max_gpu_contact_pairs == 48 * 200_000
    finally:
        forget_modules("anymal_walk_isaacgym")


def task_gym():
    from isaacgym import gymapi

    return gymapi.acquire_gym()


def test_train_refuses_a_torch_without_inference_mode_in_one_line(emitted, monkeypatch, capsys):
    """rsl_rl 1.0.2 needs torch >= 1.9; Isaac Gym's rlgpu environment has 1.8.1."""
    import_task(emitted, "anymal_walk_isaacgym", monkeypatch)
    import importlib

    train = importlib.import_module("anymal_walk_isaacgym.train")
    monkeypatch.setattr(train.torch, "__version__", "1.8.1+cu111")
    assert train.main(["--sim-device", "cpu", "--num-envs", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "error: rsl_rl 1.0.2 needs torch >= 1.9 (torch.inference_mode)"
    )
    assert "1.8.1+cu111" in err[0]
    assert train.torch_version("1.10.0+cu113") == [1, 10] and train.torch_version("2.1.0a0") == [2, 1]
