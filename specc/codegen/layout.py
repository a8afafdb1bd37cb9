"""The contact and frame layout of a task: which bodies, pairs and frames the kernels' inputs hold, in
which rows, and which of them some term reads. One computation, shared by the kernels (render.py) and
the settings tables the backend is built from (tables.py)."""

from __future__ import annotations

from specc.task import CheckedTask


def contact_layout(task: CheckedTask) -> tuple[list[str], dict[str, tuple[int, int]]]:
    """The bodies of the `contact_force` input, group after group, and each group's slice.

    The robot's groups are always tracked; an object's or a frame's body only when a term reads its
    contact force. Contact pairs (`contact_pairs`) follow the bodies in the same input.
    """
    bodies: list[str] = []
    slices: dict[str, tuple[int, int]] = {}
    for group, members in task.robot.body_groups.items():
        if members:
            slices[group] = (len(bodies), len(bodies) + len(members))
            bodies.extend(members)
    pairs = contact_pairs(task)
    for name in task.contact_groups_read:
        if name in task.scene.frames:
            slices[name] = (len(bodies), len(bodies) + 1)
            bodies.append(task.scene.frames[name].body)
    for index, name in enumerate(pairs):
        slices[name] = (len(bodies) + index, len(bodies) + index + 1)
    return bodies, slices


def contacts_read(task: CheckedTask) -> tuple[bool, ...]:
    """Per row of the `contact_force` input (bodies, then pairs): whether a term reads it. The feet are
    always read (the env derives their contact and air time); a backend may leave the other rows zero."""
    read = {
        name
        for term in task.all_terms
        for signal, name in term.checked.selections
        if signal == "contact_force"
    }
    read.add("feet")
    bodies, slices = contact_layout(task)
    rows = [False] * (len(bodies) + len(contact_pairs(task)))
    for name, (start, end) in slices.items():
        if name in read:
            rows[start:end] = [True] * (end - start)
    return tuple(rows)


def torques_read(task: CheckedTask) -> bool:
    """Whether a term reads the `torques` input; a backend may leave it zero when none does."""
    return any("torques" in term.checked.signals_read for term in task.all_terms)


def contact_pairs(task: CheckedTask) -> dict[str, tuple[str, str]]:
    """The contact pairs some term reads: name -> (body, other); their forces follow the bodies'."""
    return {n: task.scene.pairs[n] for n in task.contact_groups_read if n in task.scene.pairs}


def frame_table(
    task: CheckedTask,
) -> list[tuple[str, str, tuple[float, float, float], tuple[float, float, float, float]]]:
    """The frames some term reads, as (name, body, offset, quat): the `frame_*` inputs' rows."""
    return [
        (name, task.scene.frames[name].body, task.scene.frames[name].offset, task.scene.frames[name].quat)
        for name in task.frames_read
    ]
