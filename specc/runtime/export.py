"""Export the actor to ONNX (normalizer folded in) and TorchScript, with deployment metadata.

The ONNX graph is written node by node with onnx.helper from the trained weights: Gemm and
activation per layer, the observation normalizer folded into the first Gemm, a dynamic
batch axis. It is checked against torch with onnxruntime.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from specc import __version__
from specc.runtime.actor_critic import DeployablePolicy
from specc.runtime.assemble import learner_config
from specc.runtime.checkpoint import CheckpointError, CheckpointIdentity, load_checkpoint
from specc.runtime.normalizer import EmpiricalNormalizer
from specc.runtime.sac import ActionBound

ONNX_ACTIVATIONS = {nn.ELU: "Elu", nn.ReLU: "Relu", nn.Tanh: "Tanh"}


class DeployedPolicy(nn.Module):
    """Normalizer + the actor's deterministic action: observations in, actions out.

    `policy.actor` is a Sequential of Linear layers and activations, possibly ending in a squashing
    Tanh and an ActionBound (SAC); PPO's actor, SAC's and a distilled student's all export alike.
    """

    def __init__(self, policy: DeployablePolicy, normalizer: EmpiricalNormalizer | None) -> None:
        super().__init__()
        self.actor = policy.actor
        self.normalizer = normalizer if normalizer is not None else nn.Identity()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(self.normalizer(obs))


def load_deployed_policy(
    checkpoint: Path, module: ModuleType, algorithm: str, allow_spec_change: bool = False
) -> tuple[DeployedPolicy, EmpiricalNormalizer, list[str]]:
    """The policy of a checkpoint of `algorithm` (ppo, sac, distill) for the task of the generated
    `module`, rebuilt from the module's table of that learner without an env (export needs none), its
    normalizer, and the notes worth printing. Raises `CheckpointError` for a file that cannot serve,
    a checkpoint of another task included."""
    from specc.runtime.policies import build_policy

    config = learner_config(module, algorithm)
    num_obs, num_actions = int(module.NUM_OBSERVATIONS), len(module.ACTION_NAMES)
    actor, critic = config.networks
    identity = CheckpointIdentity(module.SPEC_HASH, module.TASK_NAME, num_obs, num_actions, actor, critic)
    critic_group = module.OBSERVATION_GROUPS.get("critic")
    policy = build_policy(config, num_obs, num_actions, int(critic_group["size"]) if critic_group else None)
    normalizer = EmpiricalNormalizer(num_obs)
    loaded = load_checkpoint(checkpoint, identity, allow_spec_change=allow_spec_change)
    try:
        policy.load_state_dict(loaded.state["policy"])
        normalizer.load_state_dict(loaded.state["normalizer"])
    except (KeyError, RuntimeError, ValueError, TypeError) as err:
        reason = str(err).strip().splitlines()[0][:200]
        raise CheckpointError(f"{checkpoint}: the checkpoint does not fit this task ({reason})") from None
    deployed = DeployedPolicy(policy, normalizer if config.empirical_normalization else None).eval()
    return deployed, normalizer, list(loaded.notes)


def deployment_metadata(module: ModuleType) -> dict[str, object]:
    """What a robot's controller needs beside the network, from the generated module's tables: joint and
    action order, the action map and gains, the observation layout, the control rate."""
    env = module.ENV
    actuators = module.BACKEND["actuators"]
    return {
        "specc_version": __version__,
        "task": module.TASK_NAME,
        "spec_hash": module.SPEC_HASH,
        "joint_names": list(module.JOINT_NAMES),
        "default_joint_pos": list(env["default_joint_pos"]),
        "action_names": list(module.ACTION_NAMES),
        "actuator_kinds": [a["kind"] for a in actuators],
        "stiffness": [a["stiffness"] for a in actuators],
        "damping": [a["damping"] for a in actuators],
        "effort": [a["effort"] for a in actuators],
        "action_scale": list(env["action_scale"]),
        "action_offset": list(env["action_offset"]),
        "clip_actions": env["clip_actions"],
        "observation_layout": _layout_rows(module.OBSERVATION_LAYOUT),
        # The other groups (critic, teacher) are training-time inputs, never the exported policy's:
        # listed so a reader knows what the critic or teacher saw.
        "observation_groups": {
            group: _layout_rows(table["layout"]) for group, table in module.OBSERVATION_GROUPS.items()
        },
        "num_observations": module.NUM_OBSERVATIONS,
        "command_names": list(module.COMMAND_NAMES),
        "control_dt": module.POLICY_DT,
        "control_rate_hz": 1.0 / module.POLICY_DT,
        "controls": "action_offset + action_scale * actions (PD targets for position actuators, "
        "torques for torque actuators)",
    }


def _layout_rows(layout: list) -> list[dict[str, object]]:
    """A layout table's (name, offset, size, scale) rows as the metadata writes them."""
    return [
        {"name": name, "offset": offset, "size": size, "scale": scale} for name, offset, size, scale in layout
    ]


def onnx_model(policy: DeployedPolicy, num_obs: int, metadata: dict[str, object]) -> onnx.ModelProto:
    layers = list(policy.actor)
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    nodes, initializers = [], []
    current = "obs"
    for index, layer in enumerate(linears):
        weight = layer.weight.detach().double().cpu().numpy()
        bias = layer.bias.detach().double().cpu().numpy()
        if index == 0 and isinstance(policy.normalizer, EmpiricalNormalizer):
            scale = 1.0 / (np.sqrt(policy.normalizer.var.double().cpu().numpy()) + policy.normalizer.eps)
            mean = policy.normalizer.mean.double().cpu().numpy()
            weight = weight * scale[None, :]  # W (x - m) * s = (W s) x - (W s) m
            bias = bias - weight @ mean
        w_name, b_name, out = f"layer{index}.weight", f"layer{index}.bias", f"layer{index}.out"
        initializers += [
            numpy_helper.from_array(weight.astype(np.float32), w_name),
            numpy_helper.from_array(bias.astype(np.float32), b_name),
        ]
        is_last = index == len(linears) - 1
        nodes.append(
            helper.make_node("Gemm", [current, w_name, b_name], ["actions" if is_last else out], transB=1)
        )
        current = out
        if not is_last:
            activation = layers[layers.index(layer) + 1]
            op = ONNX_ACTIVATIONS[type(activation)]
            if op == "Elu":
                nodes.append(helper.make_node(op, [out], [f"{out}.act"], alpha=1.0))
            else:
                nodes.append(helper.make_node(op, [out], [f"{out}.act"]))
            current = f"{out}.act"
    # What follows the last layer: SAC's squashing tanh and action bound.
    tail = layers[layers.index(linears[-1]) + 1 :]
    if tail:
        nodes[-1].output[0] = "head.out"
        current = "head.out"
        for index, module in enumerate(tail):
            out = "actions" if index == len(tail) - 1 else f"tail{index}.out"
            if isinstance(module, ActionBound):
                initializers.append(
                    numpy_helper.from_array(np.array(module.bound, dtype=np.float32), "bound")
                )
                nodes.append(helper.make_node("Mul", [current, "bound"], [out]))
            else:
                nodes.append(helper.make_node(ONNX_ACTIVATIONS[type(module)], [current], [out]))
            current = out
    graph = helper.make_graph(
        nodes,
        "specc_policy",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", num_obs])],
        [helper.make_tensor_value_info("actions", TensorProto.FLOAT, ["batch", linears[-1].out_features])],
        initializers,
    )
    model = helper.make_model(graph, producer_name="specc", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key = key
        entry.value = value if isinstance(value, str) else json.dumps(value)
    onnx.checker.check_model(model)
    return model


def export_policy(
    policy: DeployedPolicy, num_obs: int, metadata: dict[str, object], path: Path, samples: torch.Tensor
) -> dict[str, float]:
    """Write ONNX (and a TorchScript twin), verify with onnxruntime, time batch 1. Returns the figures."""
    import onnxruntime

    model = onnx_model(policy, num_obs, metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    scripted = torch.jit.script(policy.cpu().eval())
    torch.jit.save(scripted, str(path.with_suffix(".pt")))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = samples.float().cpu().numpy()
    onnx_out = session.run(["actions"], {"obs": inputs})[0]
    with torch.no_grad():
        torch_out = policy(samples.float().cpu()).numpy()
    max_diff = float(np.abs(onnx_out - torch_out).max())
    single = inputs[:1]
    for _ in range(50):
        session.run(["actions"], {"obs": single})
    timings = []
    for _ in range(500):
        start = time.perf_counter()
        session.run(["actions"], {"obs": single})
        timings.append(time.perf_counter() - start)
    return {
        "max_abs_diff": max_diff,
        "batch1_latency_us": float(np.median(timings) * 1e6),
        "onnx_bytes": path.stat().st_size,
    }
