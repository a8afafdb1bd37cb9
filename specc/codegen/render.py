"""Render a checked task into one Python module of fused torch kernels (jinja2 template).

The module has `compute_step` (observations, rewards and terminations fused in one function,
sharing derived signals and subexpressions), `compute_observations` (for resets),
`compute_success` (the [eval] criteria, called by evaluation envs only) and `compute_commands`
(the computed commands, called by the env only when a spec has some), plus data tables the
runtime reads (layout, names, effective weights, noise, eval judge). Each kernel computes the
[values] its terms read, once, before them. Each extra observation group (the critic's
privileged observations, a teacher's) is one more kernel, `compute_<group>_observations`,
described in the OBSERVATION_GROUPS table. Spec names appear in the module only inside those
tables, written as validated strings. The source comes out formatted (`ruff format` leaves it
unchanged): tables through `pysource`, kernel lines through the emitter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import jinja2

from specc import __version__
from specc.codegen import pysource
from specc.codegen.emit import DERIVED_CODE, PLANE_DERIVED_CODE, KernelEmitter, assignment, literal
from specc.codegen.layout import contact_layout, contact_pairs, frame_table
from specc.codegen.tables import (
    backend_table,
    env_table,
    eval_commands_table,
    learner_tables,
    randomization_table,
    terrain_table,
)
from specc.expr.signals import KERNEL_INPUTS, SIGNALS
from specc.task import CheckedTask
from specc.terms.check import CheckedTerm

TEMPLATE = "task_module.py.j2"


@dataclass
class Block:
    title: str
    lines: list[str]


@dataclass
class Kernel:
    name: str
    doc: str
    returns_type: str
    parameters: list[str] = field(default_factory=list)  # after the inputs, with their defaults
    derived: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)


def template_environment() -> jinja2.Environment:
    """A fresh jinja2 environment over the package's templates with the settings every emitter uses
    (strict undefined names, no autoescape: the templates write Python, values go through filters)."""
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(_load_template),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = template_environment()
    env.filters["assign"] = pysource.assign
    return env


def _load_template(name: str) -> str:
    from importlib import resources

    return resources.files("specc.templates").joinpath(name).read_text(encoding="utf-8")


def effective_weights(task: CheckedTask) -> list[float]:
    """Each reward term's weight as the runtime applies it (what `weight_code` writes, evaluated)."""
    rewards = task.spec.rewards
    policy_dt = task.spec.sim.policy_dt
    return [rewards.terms[t.name].weight * (policy_dt if rewards.scale_by_dt else 1.0) for t in task.rewards]


def weight_code(task: CheckedTask, term: CheckedTerm) -> str:
    """A reward term's effective weight as source: the spec's number, times the policy step when
    the spec scales by dt (`-2.5e-07 * policy_dt`, not `-5.000000000000001e-07`)."""
    weight = literal(task.spec.rewards.terms[term.name].weight)
    return f"{weight} * policy_dt" if task.spec.rewards.scale_by_dt else weight


def input_shapes(task: CheckedTask, bodies: list[str]) -> dict[str, str]:
    """Each kernel input's shape, the catalog's symbolic sizes resolved for this task: `(N, 12)`;
    `bodies`: the contact bodies (`contact_layout`)."""
    scan = task.spec.terrain.height_scan
    sizes = {
        "J": len(task.robot.joint_names),
        "A": len(task.robot.action_names),
        "C": len(task.command_names),
        "F": len(task.robot.body_groups["feet"]),
        "G": len(bodies),  # the input holds every contact body; a group selects its slice
        "P": scan.size if scan is not None else 0,
    }
    shapes = {}
    for name in KERNEL_INPUTS:
        signal = SIGNALS[name]
        # A frame signal holds one row per frame the task reads; a frame selects its row.
        rows = [str(len(task.frames_read))] if signal.selects == "frame" else []
        dims = ["N", *rows, *(str(sizes[d]) if isinstance(d, str) else str(d) for d in signal.shape)]
        shapes[name] = f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"
    return shapes


def render_module(task: CheckedTask) -> str:
    bodies, slices = contact_layout(task)
    kernels = [
        _kernel(task, slices, "compute_observations", observations=True),
        _kernel(task, slices, "compute_step", observations=True, rewards=True, terminations=True),
        _kernel(task, slices, "compute_curriculum", curriculum=True),
        _success_kernel(task, slices),
        _commands_kernel(task, slices),
    ]
    groups: dict[str, pysource.Value] = {}
    for group, terms in task.extra_groups.items():
        kernel = _kernel(task, slices, group_kernel_name(group), observations=True, observation_terms=terms)
        kernel.doc = f"Return the {group!r} observation group (N, {task.group_size(group)}), before noise."
        kernels.append(kernel)
        groups[group] = {
            "kernel": kernel.name,
            "size": task.group_size(group),
            "layout": [(s.name, s.offset, s.size, s.scale) for s in task.group_layout(group)],
            "noise": _noise(task, group),
        }
    noise = _noise(task, "policy")
    spec = task.spec
    weights = [pysource.Code(weight_code(task, t).replace("policy_dt", "POLICY_DT")) for t in task.rewards]
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            task_name=spec.task.name,
            version=__version__,
            spec_file=task.path.name,
            spec_hash=task.spec_hash,
            inputs=KERNEL_INPUTS,
            input_shapes=input_shapes(task, bodies),
            joint_names=task.robot.joint_names,
            action_names=task.robot.action_names,
            feet=task.robot.body_groups["feet"],
            contact_bodies=bodies,
            contact_groups=slices,
            contact_pairs=list(contact_pairs(task).values()),
            frames=frame_table(task),
            frame_velocities=task.frame_velocities_read,
            command_names=list(task.command_names),
            policy_dt=spec.sim.policy_dt,
            computed_commands=[c.name for c in task.computed_commands],
            observation_layout=[(s.name, s.offset, s.size, s.scale) for s in task.observation_layout],
            num_observations=task.num_observations,
            observation_noise=noise,
            observation_groups=groups,
            reward_names=[t.name for t in task.rewards],
            reward_weights=weights,
            scale_by_dt=spec.rewards.scale_by_dt,
            only_positive=spec.rewards.only_positive,
            termination_names=[t.name for t in task.terminations],
            kernels=kernels,
            derived_code=derived_code(task),
            signals_read=signals_read(task),
            scan_points=task.spec.terrain.height_scan.points() if task.spec.terrain.height_scan else [],
            curriculum=bool(task.curriculum),
            eval_judge=spec.eval.judge,
            eval_termination_fails=spec.eval.termination_fails,
            eval_commands=eval_commands_table(task),
            env=env_table(task),
            randomization=randomization_table(task),
            algorithm=spec.algorithm.name,
            learners=learner_tables(task),
            backend=backend_table(task),
            terrain=terrain_table(task),
        )
    )


def derived_code(task: CheckedTask) -> dict[str, str]:
    """How this task computes each derived signal: on a plane, base_height is the base's z."""
    return DERIVED_CODE if task.spec.terrain.type == "tiles" else PLANE_DERIVED_CODE


def signals_read(task: CheckedTask) -> list[str]:
    """The primitive signals some term reads (directly or through a derived signal), in INPUTS order.

    The env computes the costly ones (the height scan, the feet heights) only when they are read.
    """
    on_plane = task.spec.terrain.type != "tiles"
    read: set[str] = set()
    for term in task.all_terms:
        for name in term.checked.signals_read:
            read.add(name)
            derived = SIGNALS[name].derived_from if name in SIGNALS else ()
            read.update(d for d in derived if not (on_plane and d == "terrain_height"))
    return [name for name in KERNEL_INPUTS if name in read]


def group_kernel_name(group: str) -> str:
    """The generated function computing an extra observation group (group names come from the schema)."""
    return f"compute_{group}_observations"


def _noise(task: CheckedTask, group: str) -> list[float]:
    noise: list[float] = []
    for slot in task.group_layout(group):
        noise.extend([slot.noise] * slot.size)
    return noise


def _kernel(
    task: CheckedTask,
    slices: dict[str, tuple[int, int]],
    name: str,
    observations: bool = False,
    rewards: bool = False,
    terminations: bool = False,
    curriculum: bool = False,
    observation_terms: list[CheckedTerm] | None = None,
) -> Kernel:
    emitter = new_emitter(task, slices)
    sections: list[tuple[str, list[CheckedTerm]]] = []
    if observations:
        sections.append(
            ("observation", task.observations if observation_terms is None else observation_terms)
        )
    if rewards:
        sections.append(("reward", task.rewards))
    if terminations:
        sections.append(("termination", task.terminations))
    if curriculum:
        sections.append(("curriculum", task.curriculum))
    kernel = Kernel(name, "", "")
    if rewards:
        # TorchScript reads no module-level floats: the policy step comes in as a defaulted argument.
        kernel.parameters.append("policy_dt: float = POLICY_DT")
    needed = values_needed(task, [t for _, terms in sections for t in terms])
    for term in [*needed, *(t for _, terms in sections for t in terms)]:
        emitter.count(term.checked)
    kernel.blocks.extend(value_blocks(emitter, needed))
    returns: list[str] = []
    for section, terms in sections:
        prefix = {"observation": "o", "reward": "r", "termination": "d", "curriculum": "p"}[section]
        values: list[str] = []
        for index, term in enumerate(terms):
            code = emitter.term(term.checked)
            var = f"{prefix}{index}"
            lines = list(code.lines)
            value = code.value
            if section == "observation":
                value = _observation_value(term, value)
                if len(pysource.INDENT + assignment(var, value)) > pysource.LINE_LENGTH:
                    value = _observation_value(term, emitter.temporary(code.value, lines))
            lines.append(assignment(var, value))
            emitter.term_values[term.name] = var
            title = f"{section} {term.name!r}: {term.source.strip()}"
            if section == "reward":
                title += f"  (weight {weight_code(task, term)})"
            kernel.blocks.append(Block(_one_line(title), lines))
            values.append(var)
        returns.extend(_section_tail(task, section, values, kernel.tail))
    kernel.derived = [d for d in DERIVED_CODE if d in emitter.derived_used]
    kernel.tail.append("return " + ", ".join(returns))
    kinds = {
        "observation": ["Tensor"],
        "reward": ["Tensor", "Tensor"],
        "termination": ["Tensor", "Tensor"],
        "curriculum": ["Tensor", "Tensor"],
    }
    types = [t for section, _ in sections for t in kinds[section]]
    kernel.returns_type = types[0] if len(types) == 1 else f"Tuple[{', '.join(types)}]"
    docs = {
        "observation": "observations (N, NUM_OBSERVATIONS), scaled and clipped, before noise",
        "reward": "the reward total (N,) and each weighted term (N, len(REWARD_NAMES))",
        "termination": "done flags (N,) and each termination's flag (N, len(TERMINATION_NAMES))",
        "curriculum": "the terrain curriculum's promote and demote flags (N,), read at an episode's end",
    }
    kernel.doc = "Return " + "; ".join(docs[s] for s, _ in sections) + "."
    return kernel


def _observation_value(term: CheckedTerm, value: str) -> str:
    """An observation's value scaled, clipped and given its feature axis."""
    value = f"({value} * {literal(term.scale)})" if term.scale != 1.0 else value
    if term.clip is not None:
        value = f"torch.clamp({value}, {literal(-term.clip)}, {literal(term.clip)})"
    if not term.checked.type.shape:
        value = f"{value}.unsqueeze(-1)"
    return value


def _success_kernel(task: CheckedTask, slices: dict[str, tuple[int, int]]) -> Kernel:
    """`compute_success`: the [eval] criteria per env. Only evaluation calls it, never training."""
    emitter = new_emitter(task, slices)
    criteria = [c for c in (task.success, task.failure) if c is not None]
    values = values_needed(task, criteria)
    for term in [*values, *criteria]:
        emitter.count(term.checked)
    kernel = Kernel(
        "compute_success",
        "Return the [eval] criteria on this state: success (N,) and failure (N,), booleans.",
        "Tuple[Tensor, Tensor]",
    )
    kernel.blocks.extend(value_blocks(emitter, values))
    results = []
    for name, criterion, otherwise in (
        ("success", task.success, True),
        ("failure", task.failure, False),
    ):
        if criterion is None:
            kernel.tail.append(assignment(name, emitter.constant_tensor(otherwise, "bool")))
        else:
            code = emitter.term(criterion.checked)
            kernel.blocks.append(
                Block(
                    _one_line(f"eval {name}: {criterion.source.strip()}"),
                    [*code.lines, assignment(name, code.value)],
                )
            )
        results.append(name)
    kernel.derived = [d for d in DERIVED_CODE if d in emitter.derived_used]
    kernel.tail.append(f"return {', '.join(results)}")
    return kernel


def _commands_kernel(task: CheckedTask, slices: dict[str, tuple[int, int]]) -> Kernel:
    """`compute_commands`: the commands vector with each computed command replaced by its value on this
    state. The env calls it (only when there are computed commands) before anything reads commands."""
    emitter = new_emitter(task, slices)
    computed = task.computed_commands
    values = values_needed(task, computed)
    for term in [*values, *computed]:
        emitter.count(term.checked)
    kernel = Kernel(
        "compute_commands",
        "Return the commands (N, len(COMMAND_NAMES)) with the computed commands computed on this state.",
        "Tensor",
    )
    kernel.blocks.extend(value_blocks(emitter, values))
    columns = {}
    for index, command in enumerate(computed):
        code = emitter.term(command.checked)
        var = f"k{index}"
        kernel.blocks.append(
            Block(
                _one_line(f"command {command.name!r}: {command.source.strip()}"),
                [*code.lines, assignment(var, code.value)],
            )
        )
        columns[task.command_names.index(command.name)] = var
    kernel.derived = [d for d in DERIVED_CODE if d in emitter.derived_used]
    if columns:
        parts = [columns.get(i, f"commands[:, {i}]") for i in range(len(task.command_names))]
        kernel.tail.extend(pysource.lines([pysource.Code(p) for p in parts], "", "columns = "))
        kernel.tail.append("return torch.stack(columns, dim=-1)")
    else:
        kernel.tail.append("return commands")
    return kernel


def new_emitter(task: CheckedTask, slices: dict[str, tuple[int, int]]) -> KernelEmitter:
    """An emitter that knows the task's value variables and vector commands."""
    return KernelEmitter(
        slices,
        frame_rows={name: i for i, name in enumerate(task.frames_read)},
        value_vars={value.name: f"v{i}" for i, value in enumerate(task.values)},
        command_vectors={
            name: (start, len(components)) for name, (start, components) in task.command_vectors.items()
        },
    )


def values_needed(task: CheckedTask, terms: list[CheckedTerm]) -> list[CheckedTerm]:
    """The [values] that `terms` read, directly or through other values, in dependency order."""
    by_name = {value.name: value for value in task.values}
    needed: set[str] = set()
    stack = [name for term in terms for name in term.checked.values_read]
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(by_name[name].checked.values_read)
    return [value for value in task.values if value.name in needed]


def value_blocks(emitter: KernelEmitter, values: list[CheckedTerm]) -> list[Block]:
    """Each value computed once, before the terms that read it."""
    blocks = []
    for value in values:
        code = emitter.term(value.checked)
        lines = [*code.lines, assignment(emitter.value_vars[value.name], code.value)]
        blocks.append(Block(_one_line(f"value {value.name!r}: {value.source.strip()}"), lines))
    return blocks


def _section_tail(task: CheckedTask, section: str, values: list[str], tail: list[str]) -> list[str]:
    if section == "observation":
        tail.extend(pysource.lines([pysource.Code(v) for v in values], "", "observations = ").copy())
        tail.append("obs = torch.cat(observations, dim=-1)")
        return ["obs"]
    if section == "reward":
        weighted = [pysource.Code(f"{v} * ({weight_code(task, t)})") for v, t in zip(values, task.rewards)]
        tail.extend(pysource.lines(weighted, "", "weighted = "))
        tail.append("reward_terms = torch.stack(weighted, dim=-1)")
        # The total adds the weighted terms directly instead of reducing the stacked (N, terms)
        # tensor: inductor then computes it in the kernel that computes the terms (bench/kernels.py).
        tail.extend(_sum_lines("reward", [f"weighted[{i}]" for i in range(len(values))]))
        if task.spec.rewards.only_positive:
            tail.append("reward = torch.clamp(reward, min=0.0)")
        return ["reward", "reward_terms"]
    if section == "curriculum":
        if values:
            return values
        tail.append("never = torch.zeros_like(episode_time, dtype=torch.bool)")
        return ["never", "never"]
    if values:
        tail.extend(pysource.lines([pysource.Code(v) for v in values], "", "flags = "))
        tail.append("reasons = torch.stack(flags, dim=-1)")
        tail.append("done = torch.any(reasons, dim=-1)")
    else:
        tail.append(
            "reasons = torch.zeros((episode_time.shape[0], 0), dtype=torch.bool, device=episode_time.device)"
        )
        tail.append("done = torch.zeros_like(episode_time, dtype=torch.bool)")
    return ["done", "reasons"]


def _sum_lines(name: str, operands: list[str]) -> list[str]:
    """`name = a + b + ...`, continued as `name = name + ...` so that no line passes the limit."""
    out: list[str] = []
    current: list[str] = []
    for operand in operands:
        head = f"{name} = " + (f"{name} + " if out else "")
        if current and len(pysource.INDENT + head + " + ".join(current + [operand])) > pysource.LINE_LENGTH:
            out.append(head + " + ".join(current))
            current = []
        current.append(operand)
    head = f"{name} = " + (f"{name} + " if out else "")
    out.append(head + " + ".join(current))
    return out


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]
