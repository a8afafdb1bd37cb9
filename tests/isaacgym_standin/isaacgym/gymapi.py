# ruff: noqa: F821  (the stub classes, Vec3 and others, are made from the stub at import)
"""Stand-in for isaacgym.gymapi, derived from the isaacgym-stubs `gymapi.pyi`.

- Classes with fields in the stub (SimParams, AssetOptions, Vec3, ...) become classes that accept
  exactly those fields, with the stub's simple types (a typo or `int` field set to an enum fails).
- Module constants (SIM_PHYSX, DOF_MODE_POS, ...) are enum-like values of their stub class.
- `Gym` methods: every call is bound to the stub's signature (names, arity, simple types) and
  recorded in `CALLS`; the methods a vectorised task needs are implemented on a toy simulator whose
  state lives in torch tensors on the CPU; any other method of the stub raises NotImplementedError,
  and a name the stub lacks raises AttributeError.

The toy simulator keeps Isaac Gym's contracts that the tests rely on: acquired tensors are views
that `refresh_*` overwrites from the simulator's state; writes reach the simulator only through the
(indexed) setters, which require the full state tensor and 1-D int32 actor indices; DOFs are
ordered by name (not the URDF's order), so a task must map DOFs by name. `simulate` moves each DOF
halfway to its position target; contact forces are whatever a test puts in `Sim.contact`.
"""

from __future__ import annotations

import ast
import inspect
import typing
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import torch

from ._stubs import stubs

STUB = stubs.gymapi_stub()
CALLS: list[tuple[str, dict[str, typing.Any]]] = []  # (method, bound arguments) of every Gym call


def signature_of(node: ast.FunctionDef) -> inspect.Signature:
    """An inspect.Signature from a stub function: parameter names, kinds, defaults and annotations."""
    a = node.args
    params: list[inspect.Parameter] = []
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for arg, default in zip(positional, defaults):
        params.append(
            inspect.Parameter(
                arg.arg,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=inspect.Parameter.empty if default is None else ...,
                annotation=ast.unparse(arg.annotation) if arg.annotation else inspect.Parameter.empty,
            )
        )
    if a.vararg:
        params.append(inspect.Parameter(a.vararg.arg, inspect.Parameter.VAR_POSITIONAL))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        params.append(
            inspect.Parameter(
                arg.arg,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if default is None else ...,
                annotation=ast.unparse(arg.annotation) if arg.annotation else inspect.Parameter.empty,
            )
        )
    if a.kwarg:
        params.append(inspect.Parameter(a.kwarg.arg, inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(params)


def _classes() -> dict[str, ast.ClassDef]:
    return {node.name: node for node in STUB.body if isinstance(node, ast.ClassDef)}


STUB_CLASSES = _classes()


def _fits(value: typing.Any, annotation: str) -> bool:
    """Does `value` fit a stub annotation? Simple types and stub classes are checked; the rest is accepted."""
    if annotation == "float":
        return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    if annotation == "int":
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if annotation == "bool":
        return isinstance(value, (bool, np.bool_))
    if annotation == "str":
        return isinstance(value, str)
    if annotation.startswith("List["):
        return isinstance(value, list)
    if annotation in STUB_CLASSES:
        if isinstance(value, EnumValue):
            return value.cls == annotation
        cls = globals().get(annotation)
        return cls is None or isinstance(value, cls)
    return True


# -- value classes ----------------------------------------------------------------------------------
class StubValue:
    """An instance of a stub class with fields: only the stub's fields, with the stub's simple types."""

    _fields: typing.ClassVar[dict[str, str]] = {}

    def __init__(self, *args, **kwargs) -> None:
        signature = _INIT_SIGNATURES.get(type(self).__name__)
        if signature is not None:
            try:
                bound = signature.bind(self, *args, **kwargs)
            except TypeError as err:
                raise TypeError(f"{type(self).__name__}(): {err}") from None
            given = {k: v for k, v in bound.arguments.items() if k != "self"}
        else:
            given = {}
        for name, annotation in self._fields.items():
            object.__setattr__(self, name, _default(annotation))
        for name, value in given.items():
            setattr(self, name, value)

    def __setattr__(self, name: str, value: typing.Any) -> None:
        if name not in self._fields:
            raise AttributeError(f"gymapi.{type(self).__name__} has no field '{name}'")
        if not _fits(value, self._fields[name]):
            raise TypeError(
                f"gymapi.{type(self).__name__}.{name} is {self._fields[name]}, not {type(value).__name__}"
            )
        object.__setattr__(self, name, value)


def _default(annotation: str) -> typing.Any:
    if annotation in ("float",):
        return 0.0
    if annotation == "int":
        return 0
    if annotation == "bool":
        return False
    if annotation == "str":
        return ""
    cls = globals().get(annotation)
    if isinstance(cls, type) and issubclass(cls, StubValue) and annotation not in _ENUM_CLASSES:
        try:
            return cls()
        except TypeError:  # a class whose constructor needs arguments: the field starts unset
            return None
    return None


class EnumValue:
    """A member of a stub enum class (SimType, DofDriveMode, ...): not an int, but int() gives its value."""

    def __init__(self, cls: str, name: str, value: int) -> None:
        self.cls, self.name, self.value = cls, name, value

    def __int__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return f"gymapi.{self.name}"


_INIT_SIGNATURES: dict[str, inspect.Signature] = {}
_ENUM_CLASSES: set[str] = set()
for _name, _node in STUB_CLASSES.items():
    fields = {}
    for item in _node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            annotation = ast.unparse(item.annotation)
            if annotation.startswith("ClassVar"):
                if _name in annotation:
                    _ENUM_CLASSES.add(_name)
                continue
            fields[item.target.id] = annotation
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            _INIT_SIGNATURES.setdefault(_name, signature_of(item))
    if _name in ("Gym", "Tensor"):
        continue
    globals()[_name] = type(_name, (StubValue,), {"_fields": fields, "__module__": __name__})

_enum_counter: dict[str, int] = {}
for _node in STUB.body:
    if isinstance(_node, ast.AnnAssign) and isinstance(_node.target, ast.Name):
        _annotation = ast.unparse(_node.annotation)
        if _node.value is not None and _annotation == "int":
            globals()[_node.target.id] = ast.literal_eval(_node.value)
        elif _annotation in STUB_CLASSES:
            _enum_counter[_annotation] = _enum_counter.get(_annotation, -1) + 1
            globals()[_node.target.id] = EnumValue(_annotation, _node.target.id, _enum_counter[_annotation])
# Isaac Gym's real values of the drive modes (the DOF properties array holds them as ints).
for _value, _mode in enumerate(("DOF_MODE_NONE", "DOF_MODE_POS", "DOF_MODE_VEL", "DOF_MODE_EFFORT")):
    globals()[_mode].value = _value


def _vec3_op(op):
    def method(self, other):
        if isinstance(other, StubValue):
            return Vec3(op(self.x, other.x), op(self.y, other.y), op(self.z, other.z))
        return Vec3(op(self.x, other), op(self.y, other), op(self.z, other))

    return method


Vec3.__add__ = _vec3_op(lambda a, b: a + b)
Vec3.__sub__ = _vec3_op(lambda a, b: a - b)
Vec3.__mul__ = _vec3_op(lambda a, b: a * b)


class Tensor:
    """A gym tensor: here, a handle on the torch tensor it describes."""

    def __init__(self) -> None:
        self.torch = torch.zeros(0)

    @classmethod
    def of(cls, values: torch.Tensor) -> Tensor:
        gym_tensor = cls()
        gym_tensor.torch = values
        return gym_tensor

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.torch.shape)


class Sim:
    """The toy simulator: actors, their DOFs and bodies, and state tensors on the CPU."""

    def __init__(self, params) -> None:
        self.params = params
        self.ground = None
        self.asset = None
        self.envs: list[Env] = []
        self.prepared = False
        self.acquired: dict[str, torch.Tensor] = {}
        self.target_log: list[torch.Tensor] = []  # the position targets of every physics step

    # state of the simulator, created at prepare_sim
    def prepare(self) -> None:
        a, d, b = len(self.envs), self.asset.num_dofs, self.asset.num_bodies
        self.root = torch.zeros(a, 13)
        for i, env in enumerate(self.envs):
            p, r = env.pose.p, env.pose.r
            self.root[i, 0:3] = torch.tensor([env.origin.x + p.x, env.origin.y + p.y, env.origin.z + p.z])
            self.root[i, 3:7] = torch.tensor([r.x, r.y, r.z, r.w])
        self.dof = torch.zeros(a * d, 2)
        self.targets = torch.zeros(a * d)
        self.contact = torch.zeros(a * b, 3)
        self.bodies = torch.zeros(a * b, 13)
        self.prepared = True


class Env:
    def __init__(self, sim: Sim, origin) -> None:
        self.sim, self.origin = sim, origin
        self.actor: int | None = None
        self.pose = None
        self.filter = None
        self.shape_props = None
        self.body_props = None
        self.dof_props = None


class Asset:
    """A URDF as Isaac Gym imports it (fixed joints merged unless dont_collapse, when asked)."""

    def __init__(self, path: Path, options) -> None:
        root = ElementTree.parse(path).getroot()
        self.options = options
        links = [link.attrib["name"] for link in root.findall("link")]
        joints = root.findall("joint")
        parent_of = {j.find("child").attrib["link"]: j for j in joints}
        collapse = options.collapse_fixed_joints

        def merged_into(link: str) -> str:
            joint = parent_of.get(link)
            while (
                joint is not None
                and collapse
                and joint.attrib["type"] == "fixed"
                and joint.attrib.get("dont_collapse") != "true"
            ):
                link = joint.find("parent").attrib["link"]
                joint = parent_of.get(link)
            return link

        self.body_names = [link for link in links if merged_into(link) == link]
        self.mass = dict.fromkeys(self.body_names, 0.0)
        self.shapes = 0
        for link in root.findall("link"):
            inertial = link.find("inertial")
            if inertial is not None:
                self.mass[merged_into(link.attrib["name"])] += float(inertial.find("mass").attrib["value"])
            self.shapes += len(link.findall("collision"))
        self.dof_names = sorted(j.attrib["name"] for j in joints if j.attrib["type"] != "fixed")
        self.num_bodies = len(self.body_names)
        self.num_dofs = len(self.dof_names)


class Viewer:
    pass


DOF_PROPERTIES_DTYPE = np.dtype(
    [
        ("hasLimits", "?"),
        ("lower", "f4"),
        ("upper", "f4"),
        ("driveMode", "i4"),
        ("velocity", "f4"),
        ("effort", "f4"),
        ("stiffness", "f4"),
        ("damping", "f4"),
        ("friction", "f4"),
        ("armature", "f4"),
    ]
)


# -- Gym --------------------------------------------------------------------------------------------
def _gym_signatures() -> dict[str, list[inspect.Signature]]:
    out: dict[str, list[inspect.Signature]] = {}
    for item in STUB_CLASSES["Gym"].body:
        if isinstance(item, ast.FunctionDef):
            out.setdefault(item.name, []).append(signature_of(item))
    return out


GYM_SIGNATURES = _gym_signatures()


class Gym:
    """gymapi.Gym: each stub method is checked and recorded; the ones a task needs are implemented."""

    def __getattribute__(self, name: str):
        if name.startswith("_"):
            return object.__getattribute__(self, name)
        if name not in GYM_SIGNATURES:
            raise AttributeError(f"gymapi.Gym has no method '{name}' (not in isaacgym-stubs)")
        implementation = getattr(_GymImplementation, name, None)

        def call(*args, **kwargs):
            bound = self._bind(name, args, kwargs)
            CALLS.append((name, dict(bound.arguments)))
            if implementation is None:
                raise NotImplementedError(f"the stand-in does not implement Gym.{name}")
            return implementation(self, *args, **kwargs)

        return call

    def _bind(self, name: str, args, kwargs) -> inspect.BoundArguments:
        problems = []
        for signature in GYM_SIGNATURES[name]:
            try:
                bound = signature.bind(self, *args, **kwargs)
            except TypeError as err:
                problems.append(str(err))
                continue
            wrong = [
                f"{p} ({signature.parameters[p].annotation}) got {type(v).__name__}"
                for p, v in bound.arguments.items()
                if p != "self"
                and signature.parameters[p].annotation is not inspect.Parameter.empty
                and signature.parameters[p].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
                and not _fits(v, signature.parameters[p].annotation)
            ]
            if wrong:
                problems.append("wrong types: " + ", ".join(wrong))
                continue
            return bound
        raise TypeError(f"Gym.{name}{GYM_SIGNATURES[name][0]}: " + "; ".join(problems))


def _check_indices(sim: Sim, indices: Tensor, count: int) -> torch.Tensor:
    ids = indices.torch
    if ids.dtype != torch.int32 or ids.dim() != 1 or ids.numel() != count:
        raise ValueError(
            f"actor indices must be a 1-D int32 tensor of {count} entries, got {ids.dtype} {ids.shape}"
        )
    if count and (int(ids.min()) < 0 or int(ids.max()) >= len(sim.envs)):
        raise IndexError("actor index out of range")
    return ids.long()


def _check_state(sim: Sim, name: str, tensor: Tensor) -> torch.Tensor:
    acquired = sim.acquired.get(name)
    if acquired is None or tensor.torch.data_ptr() != acquired.data_ptr() or tensor.shape != acquired.shape:
        raise ValueError(f"the {name} setter takes the full tensor acquire_{name}_tensor returned")
    return tensor.torch


class _GymImplementation:
    """What the toy simulator does for each implemented Gym method (called after the signature check)."""

    def create_sim(self, compute_device=0, graphics_device=0, type=None, params=None):
        return Sim(params)

    def add_ground(self, sim, params):
        sim.ground = params

    def load_asset(self, sim, rootpath, filename, options=None):
        asset = Asset(Path(rootpath) / filename, options)
        sim.asset = asset
        return asset

    def get_asset_dof_names(self, asset):
        return list(asset.dof_names)

    def get_asset_rigid_body_names(self, asset):
        return list(asset.body_names)

    def get_asset_dof_count(self, asset):
        return asset.num_dofs

    def get_asset_rigid_body_count(self, asset):
        return asset.num_bodies

    def create_env(self, sim, lower, upper, per_row):
        if sim.prepared:
            raise RuntimeError("create_env after prepare_sim")
        if sim.envs and sim.envs[-1].actor is None:
            raise RuntimeError("create_env before the previous env got its actor")
        i = len(sim.envs)
        origin = Vec3((i % per_row) * (upper.x - lower.x), (i // per_row) * (upper.y - lower.y), 0.0)
        env = Env(sim, origin)
        sim.envs.append(env)
        return env

    def create_actor(self, env, asset, pose, name="", group=0, filter=0, segmentationId=0):
        if env is not env.sim.envs[-1] or env.actor is not None:
            raise RuntimeError("actors go into the env created last, one per env here")
        env.actor, env.pose, env.filter = 0, pose, filter
        env.shape_props = [RigidShapeProperties() for _ in range(asset.shapes)]
        env.body_props = []
        for body in asset.body_names:
            props = RigidBodyProperties()
            props.mass = asset.mass[body]
            props.inertia.x, props.inertia.y, props.inertia.z = (
                Vec3(1.0, 0, 0),
                Vec3(0, 1.0, 0),
                Vec3(0, 0, 1.0),
            )
            env.body_props.append(props)
        env.dof_props = np.zeros(asset.num_dofs, dtype=DOF_PROPERTIES_DTYPE)
        return 0

    def get_env_origin(self, env):
        return env.origin

    def get_actor_rigid_shape_properties(self, env, actor):
        return list(env.shape_props)

    def set_actor_rigid_shape_properties(self, env, actor, props):
        env.shape_props = list(props)
        return True

    def get_actor_rigid_body_properties(self, env, actor):
        return list(env.body_props)

    def set_actor_rigid_body_properties(self, env, actorHandle, props, recomputeInertia=False):
        env.body_props = list(props)
        return True

    def get_actor_dof_properties(self, env, actor):
        return env.dof_props.copy()

    def set_actor_dof_properties(self, env, actor, props):
        if not isinstance(props, np.ndarray) or props.dtype != DOF_PROPERTIES_DTYPE:
            raise TypeError("DOF properties are the structured array get_actor_dof_properties returns")
        env.dof_props = props.copy()
        return True

    def prepare_sim(self, sim):
        sim.prepare()
        return True

    def _acquire(self, sim, name: str, source: torch.Tensor) -> Tensor:
        if not sim.prepared:
            raise RuntimeError(f"acquire_{name}_tensor before prepare_sim")
        buffer = source.clone()
        sim.acquired[name] = buffer
        return Tensor.of(buffer)

    def acquire_actor_root_state_tensor(self, sim):
        return _GymImplementation._acquire(self, sim, "actor_root_state", sim.root)

    def acquire_dof_state_tensor(self, sim):
        return _GymImplementation._acquire(self, sim, "dof_state", sim.dof)

    def acquire_net_contact_force_tensor(self, sim):
        return _GymImplementation._acquire(self, sim, "net_contact_force", sim.contact)

    def acquire_rigid_body_state_tensor(self, sim):
        return _GymImplementation._acquire(self, sim, "rigid_body_state", sim.bodies)

    def refresh_actor_root_state_tensor(self, sim):
        sim.acquired["actor_root_state"].copy_(sim.root)
        return True

    def refresh_dof_state_tensor(self, sim):
        sim.acquired["dof_state"].copy_(sim.dof)
        return True

    def refresh_net_contact_force_tensor(self, sim):
        sim.acquired["net_contact_force"].copy_(sim.contact)
        return True

    def refresh_rigid_body_state_tensor(self, sim):
        sim.acquired["rigid_body_state"].copy_(sim.bodies)
        return True

    def set_dof_position_target_tensor(self, sim, targets):
        if targets.torch.numel() != sim.targets.numel() or targets.torch.dtype != torch.float32:
            raise ValueError("position targets: one float32 per DOF of the sim")
        sim.targets.copy_(targets.torch.reshape(-1))
        sim.target_log.append(sim.targets.clone())
        return True

    def set_actor_root_state_tensor_indexed(self, sim, state, indices, count):
        values = _check_state(sim, "actor_root_state", state)
        ids = _check_indices(sim, indices, count)
        sim.root[ids] = values[ids]
        return True

    def set_dof_state_tensor_indexed(self, sim, state, indices, count):
        values = _check_state(sim, "dof_state", state)
        ids = _check_indices(sim, indices, count)
        d = sim.asset.num_dofs
        rows = (ids[:, None] * d + torch.arange(d)[None, :]).reshape(-1)
        sim.dof[rows] = values[rows]
        return True

    def simulate(self, sim):
        # Each DOF moves halfway to its target; its velocity is that move over one step.
        move = 0.5 * (sim.targets - sim.dof[:, 0])
        sim.dof[:, 0] += move
        sim.dof[:, 1] = move / sim.params.dt

    def fetch_results(self, sim, wait):
        pass

    def destroy_sim(self, sim):
        pass


def acquire_gym(*args, **kwargs) -> Gym:
    return Gym()
