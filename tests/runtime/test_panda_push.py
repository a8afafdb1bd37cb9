"""The shipped panda_push task is physically doable: a scripted pusher moves the box 15 cm.

A pusher that a policy could be: damped least-squares IK on the tool centre point (hand kept
pointing down) plus the PD drives' gravity sag, sent through the env's own action convention
(targets = default + action_scale * action). It comes down behind the box, then pushes it along x
(away from the robot) and along y (sideways) on real MuJoCo: the fingers reach the box's side at
its height without the hand landing on it, and the box slides where it is pushed without tipping.
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
import torch
from layout import ROOT
from runtime_support import assemble_task

from specc.diagnostics import DiagnosticSink
from specc.task import check_task

SPEC = ROOT / "tasks" / "panda_push.toml"


def actions_to(env, tcp_targets: np.ndarray, down: np.ndarray) -> torch.Tensor:
    """The actions whose PD targets move the tool centre point towards its target (one IK step)."""
    backend = env.backend
    model, data = backend.model, mujoco.MjData(backend.model)
    tcp = model.body("panda_hand_tcp").id
    dof, qpos = backend.layout.dof_addr, backend.layout.qpos_addr
    out = torch.zeros(env.num_envs, env.num_actions)
    for e in range(env.num_envs):
        data.qpos[:] = backend._state[e, backend._qpos0 : backend._qpos0 + model.nq]
        mujoco.mj_forward(model, data)
        rotation = data.xmat[tcp].reshape(3, 3)
        turn = 0.5 * sum(np.cross(rotation[:, i], down[:, i]) for i in range(3))
        jac_pos, jac_rot = np.zeros((3, model.nv)), np.zeros((3, model.nv))
        mujoco.mj_jacBody(model, data, jac_pos, jac_rot, tcp)
        jac = np.vstack([jac_pos[:, dof], jac_rot[:, dof]])
        error = np.concatenate([np.clip(tcp_targets[e] - data.xpos[tcp], -0.05, 0.05), turn])
        step = jac.T @ np.linalg.solve(jac @ jac.T + 1e-4 * np.eye(6), error)
        target = data.qpos[qpos] + step + data.qfrc_bias[dof] / 80.0  # the sag of stiffness 80
        out[e] = torch.from_numpy((target - env.default_joint_pos.numpy()) / env.action_scale.numpy())
    return out


@pytest.mark.parametrize("direction", [(1.0, 0.0), (0.0, 1.0)], ids=["along_x", "along_y"])
def test_a_scripted_pusher_moves_the_box_15_cm(direction):
    task = check_task(SPEC, DiagnosticSink(str(SPEC)), {"randomization.enabled": False})
    assert task is not None
    env = assemble_task(task, backend="mujoco", num_envs=1, kernels="eager", capture_graph=False).env
    box_row, tcp_row = task.frames_read.index("box"), task.frames_read.index("ee")
    model = env.backend.model
    data = mujoco.MjData(model)
    data.qpos[:] = env.backend._state[0, env.backend._qpos0 : env.backend._qpos0 + model.nq]
    mujoco.mj_forward(model, data)
    down = data.xmat[model.body("panda_hand_tcp").id].reshape(3, 3).copy()
    way = torch.tensor([*direction, 0.0])
    start = env.backend.state().frame_pos[:, box_row].clone()
    goal = start + 0.15 * way
    lowest = 1.0
    for step in range(350):  # 7 s of the 8 s episode
        state = env.backend.state()
        box, tcp = state.frame_pos[:, box_row], state.frame_pos[:, tcp_row]
        if step < 125:  # above, then down to 3.5 cm, 11 cm behind the box
            target = start - 0.11 * way
            target[:, 2] = 0.12 if step < 75 else 0.035
        else:  # the fingers' half thickness behind the box's face, leading by up to 3 cm
            left = ((goal - box) * way).sum(-1, keepdim=True)
            target = box - 0.055 * way + torch.clamp(left, 0.0, 0.03) * way
            target[:, 2] = 0.035
        if step >= 125:
            lowest = min(lowest, float(tcp[0, 2]))
        env.step_eagerly(actions_to(env, target.numpy(), down))
    state = env.backend.state()
    moved = state.frame_pos[0, box_row] - start[0]
    along = float((moved * way).sum())
    assert along > 0.12  # pushed most of the 15 cm (the plain pusher does not brake: it may overshoot)
    assert float((moved - along * way)[:2].norm()) < 0.06  # it drifts sideways, but it does not steer
    assert lowest < 0.06  # the hand pushed at the box's side, not riding on its top (8 cm)
    quat = state.frame_quat[0, box_row]
    assert float(quat[1] ** 2 + quat[2] ** 2) < 0.01  # upright: no roll or pitch to speak of
