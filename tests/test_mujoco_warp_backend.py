"""The MuJoCo Warp backend on a CUDA GPU; skipped where there is no GPU or no MuJoCo Warp (as in CI)."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("mujoco_warp")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

from kernel_support import TASKS, load_task  # noqa: E402

from specc.assemble import assemble  # noqa: E402
from specc.runtime.backends.base import PhysicsParams  # noqa: E402

G = 9.81


@pytest.fixture(scope="module")
def parts():
    task = load_task(TASKS / "anymal_walk.toml")
    return task, assemble(
        task, backend="mujoco-warp", device="cuda", num_envs=8, kernels="eager", randomize=False
    )


def _hold(backend, default, seconds):
    targets = default.repeat(backend.num_envs, 4, 1)
    for _ in range(round(seconds / (backend.physics_dt * 4))):
        backend.step(targets)


def test_same_robot_as_the_cpu_backend(parts):
    task, p = parts
    assert p.backend.total_mass == pytest.approx(task.robot.urdf.total_mass, rel=1e-9)
    assert p.backend.graph_mode in ("none", "cuda-graph") or p.backend.graph_mode.startswith("plain")


def test_feet_carry_the_weight_with_stiff_gains(parts):
    task, p = parts
    backend, env = p.backend, p.env
    everyone = torch.ones(backend.num_envs, dtype=torch.bool, device="cuda")
    backend.set_params(everyone, PhysicsParams(motor_strength=torch.full((8,), 4.0, device="cuda")))
    _hold(backend, env.default_joint_pos, 2.0)
    feet = [backend.contact_bodies.index(f) for f in ("LF_FOOT", "RF_FOOT", "LH_FOOT", "RH_FOOT")]
    vertical = backend.state().contact_force[:, feet, 2].sum(dim=1)
    assert torch.allclose(vertical, torch.full_like(vertical, backend.total_mass * G), rtol=0.05)


def test_reset_of_a_subset_leaves_the_others_alone(parts):
    task, p = parts
    backend, env = p.backend, p.env
    _hold(backend, env.default_joint_pos, 0.2)
    before = backend.qpos.clone()
    mask = torch.zeros(8, dtype=torch.bool, device="cuda")
    mask[[2, 5]] = True
    backend.reset(
        mask,
        torch.tensor([[0.0, 0.0, 0.7]] * 8, device="cuda"),
        torch.tensor([[1.0, 0, 0, 0]] * 8, device="cuda"),
        env.default_joint_pos.repeat(8, 1),
        torch.zeros(8, 12, device="cuda"),
    )
    keep = [0, 1, 3, 4, 6, 7]
    assert torch.equal(backend.qpos[keep], before[keep])
    assert backend.state().root_pos[2, 2].item() == pytest.approx(0.7)


def test_env_steps_with_compiled_kernels_on_the_gpu(parts):
    task, p = parts
    result = p.env.step(torch.zeros(8, 12, device="cuda"))
    assert result.obs.shape == (8, 48) and result.obs.device.type == "cuda"
    assert torch.isfinite(result.obs).all()


def _small_buffers(**overrides):
    from specc.diagnostics import DiagnosticSink
    from specc.task import check_task

    task = check_task(TASKS / "anymal_walk.toml", DiagnosticSink("x"), overrides)
    return assemble(task, backend="mujoco-warp", device="cuda", num_envs=4, kernels="eager", randomize=False)


def test_a_too_small_contact_buffer_is_a_clear_error():
    from specc.runtime.backends.mujoco_warp import BufferOverflow

    p = _small_buffers(**{"sim.max_contacts_per_env": 1})  # four standing feet need four contacts
    _hold(p.backend, p.env.default_joint_pos, 0.5)
    with pytest.raises(BufferOverflow, match="raise sim.max_contacts_per_env to at least"):
        p.env.check_health()


def test_a_too_small_constraint_buffer_is_a_clear_error():
    from specc.runtime.backends.mujoco_warp import BufferOverflow

    p = _small_buffers(**{"sim.max_constraints_per_env": 8})  # four pyramidal foot contacts take 16 rows
    _hold(p.backend, p.env.default_joint_pos, 0.5)
    with pytest.raises(BufferOverflow, match="raise sim.max_constraints_per_env to at least"):
        p.env.check_health()


def test_default_buffers_hold_a_rollout_of_falling_robots():
    task = load_task(TASKS / "anymal_walk.toml")
    p = assemble(task, backend="mujoco-warp", device="cuda", num_envs=256, kernels="eager")
    generator = torch.Generator(device="cuda").manual_seed(0)
    for _ in range(100):  # large random actions: robots fall, roll and lie on the ground
        p.env.step(3 * torch.randn(256, 12, device="cuda", generator=generator))
    use = p.backend.usage()
    p.env.check_health()
    print(
        f"peak use over 100 steps: {use} of {p.backend.nconmax} contacts and {p.backend.njmax} rows per env"
    )
    assert use["contacts"] > 256  # the counters do count


def test_the_whole_step_replayed_from_a_cuda_graph_matches_eager_steps():
    """Same seed, same actions: the graph's steps (resets, new commands and parameters included) equal the
    eager steps up to MuJoCo Warp's float32 non-determinism. That is ~1e-6 per step, but contacts can
    amplify it in a single env (one run in several saw a 0.1 m/s base-velocity gap in one of 64 envs), so
    up to two envs per step may differ; a defect in the graph's resets or draws shows in 32 envs at once."""
    task = load_task(TASKS / "anymal_walk.toml")
    graph = assemble(task, backend="mujoco-warp", device="cuda", num_envs=64, kernels="eager", seed=3).env
    eager = assemble(
        task, backend="mujoco-warp", device="cuda", num_envs=64, kernels="eager", seed=3, capture_graph=False
    ).env
    generator = torch.Generator(device="cuda").manual_seed(1)
    actions = [0.3 * torch.randn(64, 12, device="cuda", generator=generator) for _ in range(12)]
    ended = 0
    for step, a in enumerate(actions):
        if step == 6:  # half of the envs time out at once, after capture
            for env in (graph, eager):
                env.episode_step[::2] = env.config.max_episode_steps - 1
        g, e = graph.step(a), eager.step(a)
        assert torch.equal(g.done, e.done)
        same_obs = torch.isclose(g.obs, e.obs, atol=2e-3, rtol=1e-3).all(dim=1)
        same_reward = torch.isclose(g.reward, e.reward, atol=2e-3, rtol=1e-3)
        assert int((~(same_obs & same_reward)).sum()) <= 2, (step, (g.obs - e.obs).abs().max(dim=1).values)
        assert torch.equal(graph.commands, eager.commands)
        ended += int(g.done.sum())
    assert graph.graph.mode == "cuda-graph" and eager.graph.mode.startswith("eager")
    assert ended >= 32


def test_same_seed_gives_statistically_equal_curves():
    """MuJoCo Warp is float32 with atomic sums, so runs are not bit-identical: what a user gets from a
    seed is the same curve within the noise of the batch mean, which this test bounds."""
    from specc.runtime.runner import Runner

    task = load_task(TASKS / "anymal_walk.toml")
    curves = []
    for _ in range(2):
        p = assemble(task, backend="mujoco-warp", device="cuda", num_envs=1024, kernels="eager", seed=0)
        logs = []
        Runner(p.env, p.learner_config, seed=0).train(8, logs.append)
        curves.append([log.mean_reward for log in logs])
    print("same-seed curves (mean reward per step):", curves)
    first, second = (torch.tensor(c) for c in curves)
    assert torch.allclose(first[0], second[0], rtol=0.01)
    assert torch.allclose(first, second, rtol=0.1)


def test_specc_run_reports_an_overflow_as_an_error_on_the_spec(tmp_path):
    import subprocess
    import sys

    spec = TASKS / "anymal_walk.toml"
    command = [
        sys.executable,
        "-m",
        "specc",
        "run",
        str(spec),
        "--backend",
        "mujoco-warp",
        "--device",
        "cuda",
    ]
    command += ["--num-envs", "64", "--max-iterations", "1", "--set", "sim.max_contacts_per_env=1"]
    command += ["--run-dir", str(tmp_path / "run"), "--no-tensorboard"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"error: {spec}: MuJoCo Warp's contact buffer overflowed" in done.stderr
    assert "raise sim.max_contacts_per_env to at least" in done.stderr


def test_contact_forces_from_constraint_forces_equal_mujoco_warp_contact_sensors():
    """The backend reads torques and contact forces back with its own kernel instead of sensors; on one MuJoCo
    Warp Data that has the sensors too, both agree for robots dropped in random poses (feet, shanks, thighs
    and base touching)."""
    import mujoco_warp as mjw
    import warp as wp

    from specc.assemble import backend_options
    from specc.codegen.render import contact_layout
    from specc.runtime.backends.mujoco_model import build_model
    from specc.runtime.backends.mujoco_warp_read_back import ReadBack

    task = load_task(TASKS / "anymal_walk.toml")
    bodies, _ = contact_layout(task)
    n = 64
    model, layout = build_model(
        task.robot.urdf, task.robot.joint_names, backend_options(task, n, "cuda"), bodies, sensors=True
    )
    with wp.ScopedDevice("cuda:0"):
        m = mjw.put_model(model)
        d = mjw.make_data(model, nworld=n, nconmax=90, njmax=396)
    qpos, qvel, ctrl = wp.to_torch(d.qpos), wp.to_torch(d.qvel), wp.to_torch(d.ctrl)
    sensordata = wp.to_torch(d.sensordata)
    generator = torch.Generator(device="cuda").manual_seed(0)
    qpos.copy_(torch.as_tensor(model.qpos0, dtype=torch.float32, device="cuda").repeat(n, 1))
    qpos[:, 2] = 0.3 + 0.4 * torch.rand(n, device="cuda", generator=generator)
    quat = torch.randn(n, 4, device="cuda", generator=generator)
    quat[: n // 2] = torch.tensor([1.0, 0.0, 0.0, 0.0], device="cuda")  # half upright, half in any pose
    qpos[:, 3:7] = quat / quat.norm(dim=1, keepdim=True)
    joints = torch.as_tensor(layout.qpos_addr, device="cuda")
    qpos[:, joints] += 0.3 * torch.randn(n, len(joints), device="cuda", generator=generator)
    qvel.normal_(0.0, 0.5, generator=generator)
    ctrl.copy_(qpos[:, joints])
    out = {
        "contact_force": torch.zeros(n, len(bodies), 3, device="cuda"),
        "joint_torque": torch.zeros(n, len(layout.driven), device="cuda"),
        "diverged": torch.zeros(n, dtype=torch.bool, device="cuda"),
        "start_time": torch.zeros(n, device="cuda"),
        "peak_use": torch.zeros(3, dtype=torch.int32, device="cuda"),
    }
    read_back = ReadBack(
        model,
        d,
        "cuda:0",
        layout.contact_members,
        [],
        (True,) * len(bodies),
        layout.actuator_ids,
        layout.driven,
        out,
    )
    computed = out["contact_force"]
    touching = torch.zeros(len(bodies), dtype=torch.bool, device="cuda")
    for step in range(200):  # one second: every robot lands, some on their backs
        mjw.step(m, d)
        if step % 20 == 19:
            read_back.compute()
            from_sensors = torch.stack(
                [-sum(sensordata[:, a : a + 3] for a in addrs) for addrs in layout.contact_sensor_addr], dim=1
            )
            torch.testing.assert_close(computed, from_sensors, rtol=1e-3, atol=1e-2)
            torque = out["joint_torque"]
            torch.testing.assert_close(torque, sensordata[:, torch.as_tensor(layout.torque_sensor_addr)])
            touching |= (computed.norm(dim=-1) > 1.0).any(dim=0)
    assert bool(touching.all()), [b for b, t in zip(bodies, touching.tolist()) if not t]
