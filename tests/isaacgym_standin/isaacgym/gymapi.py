# ruff: noqa: F821  (the stub classes, Vec3 and others, are made from the stub at import)
"""Stand-in for isaacgym.gymapi, derived from the isaacgym-stubs `gymapi.pyi`.

- Classes with fields in the stub (SimParams, AssetOptions, Vec3, ...) become classes that accept
  exactly those fields, with the stub's simple types (a typo or `int` field set to an enum fails).
  Fields start at Isaac Gym's documented defaults (`DOCUMENTED_DEFAULTS`: AssetOptions' density of
  1000 kg/m^3, angular damping 0.5, velocity caps of 64 rad/s and 1000 m/s, ...); a field the stand-in's
  importer reads whose default is not documented (`UNDOCUMENTED`) must be set before it is read.
- Module constants (SIM_PHYSX, DOF_MODE_POS, ...) are enum-like values of their stub class.
- `Gym` methods: every call is bound to the stub's signature (names, arity, simple types) and
  recorded in `CALLS`; the methods a vectorised task needs are implemented on a toy simulator whose
  state lives in torch tensors on the CPU; any other method of the stub raises NotImplementedError,
  and a name the stub lacks raises AttributeError.

The toy simulator keeps Isaac Gym's contracts and PhysX's conventions that the tests rely on:
- `load_asset` builds bodies and DOFs as Isaac Gym documents it (`_urdf_import.py`: density for
  links without `<inertial>`, fixed-joint collapse, DOF properties from the URDF); DOFs are
  ordered by name (not the URDF's order), so a task must map DOFs by name.
- Acquired tensors are views that `refresh_*` overwrites from the simulator's state; writes reach
  the simulator only through the (indexed) setters, which require the full state tensor and 1-D
  int32 actor indices of the sim domain (`get_actor_index`).
- A root state is the root link's frame (position, x-y-z-w quaternion) with the linear velocity of
  the body's centre of mass, as PhysX reports it, and the angular velocity.
- `simulate` moves each DOF of unit inertia (plus armature) under its drive: PhysX's implicit PD
  drive in DOF_MODE_POS (stiffness and damping solved at the end of the step, clipped to the
  effort), the actuation force tensor in DOF_MODE_EFFORT, nothing in DOF_MODE_NONE; the joint
  velocity is capped at the DOF's `velocity` and positions kept in its limits. Each free actor's
  root keeps moving with its velocities, damped by the asset's linear and angular damping and capped
  at its maximum velocities, turning about its centre of mass. No gravity and no contacts: contact
  forces are whatever a test puts in `Sim.contact`. `Sim.state_log` and `Sim.applied_log` record the
  DOF state at the start of each physics step and the force each DOF got in it.
"""

from __future__ import annotations

import ast
import copy
import inspect
import math
import typing
from pathlib import Path

import numpy as np
import torch

from . import _urdf_import
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


# Defaults Isaac Gym Preview 4 documents (the AssetOptions property descriptions of its API reference).
DOCUMENTED_DEFAULTS: dict[str, dict[str, typing.Any]] = {
    "AssetOptions": {
        "density": 1000.0,  # kg/m^3, for links without mass and inertia
        "angular_damping": 0.5,
        "linear_damping": 0.0,
        "max_angular_velocity": 64.0,  # rad/s
        "max_linear_velocity": 1000.0,  # m/s
        "armature": 0.0,
        "thickness": 0.02,
        "enable_gyroscopic_forces": True,
        "slices_per_cylinder": 20,
        "use_physx_armature": True,
        "tendon_limit_stiffness": 1.0,
        "min_particle_mass": 1e-12,
    },
}
# Fields the stand-in's importer reads whose default the documentation does not state.
UNDOCUMENTED: dict[str, tuple[str, ...]] = {
    "AssetOptions": ("collapse_fixed_joints", "default_dof_drive_mode", "replace_cylinder_with_capsule"),
}


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
        documented = DOCUMENTED_DEFAULTS.get(type(self).__name__, {})
        unknown = UNDOCUMENTED.get(type(self).__name__, ())
        for name, annotation in self._fields.items():
            if name not in unknown:
                object.__setattr__(self, name, documented.get(name, _default(annotation)))
        for name, value in given.items():
            setattr(self, name, value)

    def __getattr__(self, name: str) -> typing.Any:  # only fields never set reach here
        if name in UNDOCUMENTED.get(type(self).__name__, ()):
            raise AttributeError(
                f"gymapi.{type(self).__name__}.{name} has no documented default: set it before it is used"
            )
        raise AttributeError(f"gymapi.{type(self).__name__} has no field '{name}'")

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


# -- the toy simulator ------------------------------------------------------------------------------
DOF_INERTIA = 1.0  # every DOF moves a unit inertia (plus its armature): a toy, not the robot's dynamics


class Asset:
    """A loaded asset: the imported bodies and DOFs and the options it was loaded with."""

    def __init__(self, imported: _urdf_import.ImportedAsset, options, path: Path | None = None) -> None:
        self.imported = imported
        self.options = copy.copy(options)  # the options at load time; later changes do not reach it
        self.path = path
        self.body_names = list(imported.body_names)
        self.dof_names = [d.name for d in imported.dofs]
        self.num_bodies = len(self.body_names)
        self.num_dofs = len(self.dof_names)
        self.shapes = sum(len(imported.body_shapes[b]) for b in self.body_names)

    @property
    def mass(self) -> dict[str, float]:
        return {name: self.imported.body_mass[name].mass for name in self.body_names}

    def dof_properties(self) -> np.ndarray:
        """Each DOF's properties as the import sets them (get_asset_dof_properties)."""
        props = np.zeros(self.num_dofs, dtype=DOF_PROPERTIES_DTYPE)
        for i, dof in enumerate(self.imported.dofs):
            props[i] = (
                dof.has_limits,
                dof.lower,
                dof.upper,
                int(self.options.default_dof_drive_mode),
                dof.velocity,
                dof.effort,
                0.0,
                dof.damping,
                dof.friction,
                float(self.options.armature),
            )
        return props

    def body_properties(self) -> list:
        out = []
        for name in self.body_names:
            solid = self.imported.body_mass[name]
            props = RigidBodyProperties()
            props.mass = float(solid.mass)
            props.com = Vec3(*(float(v) for v in solid.com))
            props.inertia = _mat33(solid.inertia)
            out.append(props)
        return out


def _mat33(matrix) -> typing.Any:
    m = Mat33()
    m.x, m.y, m.z = (Vec3(*(float(v) for v in row)) for row in np.asarray(matrix))
    return m


def mat33_array(m) -> np.ndarray:
    return np.array([[m.x.x, m.x.y, m.x.z], [m.y.x, m.y.y, m.y.z], [m.z.x, m.z.y, m.z.z]])


class Actor:
    def __init__(
        self, env: Env, asset: Asset, pose, filter: int, index: int, body_start: int, dof_start: int
    ):
        self.env, self.asset, self.pose, self.filter = env, asset, pose, filter
        self.index, self.body_start, self.dof_start = index, body_start, dof_start
        self.shape_props = [RigidShapeProperties() for _ in range(asset.shapes)]
        for shape in self.shape_props:
            shape.friction = 1.0  # PhysX's default material
        self.body_props = asset.body_properties()
        self.dof_props = asset.dof_properties()

    @property
    def fixed(self) -> bool:
        return bool(self.asset.options.fix_base_link)


class Env:
    def __init__(self, sim: Sim, origin) -> None:
        self.sim, self.origin = sim, origin
        self.actors: list[Actor] = []

    # The first actor's view, for tests of one-actor envs.
    def __getattr__(self, name: str):
        if name in ("shape_props", "body_props", "dof_props", "filter", "pose") and self.actors:
            return getattr(self.actors[0], name)
        raise AttributeError(name)


class Sim:
    """Actors, their DOFs and bodies, and the state tensors, on the CPU."""

    def __init__(self, params) -> None:
        self.params = params
        self.ground = None
        self.assets: list[Asset] = []
        self.envs: list[Env] = []
        self.actors: list[Actor] = []
        self.prepared = False
        self.acquired: dict[str, torch.Tensor] = {}
        self.target_log: list[torch.Tensor] = []  # the position targets of every physics step
        self.applied_log: list[torch.Tensor] = []  # the force on every DOF in every physics step
        self.state_log: list[torch.Tensor] = []  # the DOF state at the start of every physics step

    @property
    def asset(self) -> Asset:
        """The first asset loaded (the robot)."""
        return self.assets[0]

    def prepare(self) -> None:
        a = len(self.actors)
        b = sum(actor.asset.num_bodies for actor in self.actors)
        d = sum(actor.asset.num_dofs for actor in self.actors)
        self.root = torch.zeros(a, 13)
        for i, actor in enumerate(self.actors):
            p, r, o = actor.pose.p, actor.pose.r, actor.env.origin
            self.root[i, 0:3] = torch.tensor([o.x + p.x, o.y + p.y, o.z + p.z])
            self.root[i, 3:7] = torch.tensor([r.x, r.y, r.z, r.w])
        self.dof = torch.zeros(d, 2)
        self.targets = torch.zeros(d)
        self.actuation = torch.zeros(d)
        self.contact = torch.zeros(b, 3)
        self.bodies = torch.zeros(b, 13)
        self.bodies[:, 6] = 1.0
        self._sync_root_bodies()
        self.prepared = True

    @property
    def num_dofs(self) -> int:
        return sum(actor.asset.num_dofs for actor in self.actors)

    def _sync_root_bodies(self) -> None:
        for i, actor in enumerate(self.actors):
            self.bodies[actor.body_start] = self.root[i]

    def _dof_columns(self) -> dict[str, torch.Tensor]:
        props = np.concatenate([actor.dof_props for actor in self.actors]) if self.actors else None
        return {
            name: torch.from_numpy(np.asarray(props[name], dtype=np.float64)) for name in props.dtype.names
        }

    def step(self) -> None:
        dt = self.params.dt
        self.state_log.append(self.dof.clone())
        self._step_dofs(dt)
        self._step_roots(dt)
        self._sync_root_bodies()

    def _step_dofs(self, dt: float) -> None:
        if self.dof.numel() == 0:
            self.applied_log.append(torch.zeros(0))
            return
        p = self._dof_columns()
        q, v = self.dof[:, 0].double(), self.dof[:, 1].double()
        inertia = DOF_INERTIA + p["armature"]
        mode = p["driveMode"].long()
        if bool((mode == int(DOF_MODE_VEL)).any()):
            raise NotImplementedError("the stand-in does not simulate DOF_MODE_VEL")
        # PhysX's implicit drive: the spring and damper act on the end-of-step position and velocity.
        kp, kd = p["stiffness"], p["damping"]
        target = self.targets.double()
        v_next = (inertia * v + dt * kp * (target - q)) / (inertia + dt * kd + dt * dt * kp)
        implicit = inertia * (v_next - v) / dt
        force = torch.where(
            mode == int(DOF_MODE_POS), implicit.clamp(-p["effort"], p["effort"]), torch.zeros_like(q)
        )
        force = torch.where(mode == int(DOF_MODE_EFFORT), self.actuation.double(), force)
        v = v + dt * force / inertia
        v = torch.where(p["velocity"] > 0, v.clamp(-p["velocity"], p["velocity"]), v)
        q = q + dt * v
        limited = p["hasLimits"] > 0
        stopped = limited & ((q < p["lower"]) | (q > p["upper"]))
        q = torch.where(limited, torch.minimum(torch.maximum(q, p["lower"]), p["upper"]), q)
        v = torch.where(stopped, torch.zeros_like(v), v)
        self.dof[:, 0], self.dof[:, 1] = q.float(), v.float()
        self.applied_log.append(force.float())

    def _step_roots(self, dt: float) -> None:
        for i, actor in enumerate(self.actors):
            if actor.fixed:
                continue
            options = actor.asset.options
            state = self.root[i].double()
            lin, ang = state[7:10], state[10:13]
            lin = lin * max(0.0, 1.0 - dt * float(options.linear_damping))
            ang = ang * max(0.0, 1.0 - dt * float(options.angular_damping))
            lin = lin * min(1.0, float(options.max_linear_velocity) / max(float(lin.norm()), 1e-30))
            ang = ang * min(1.0, float(options.max_angular_velocity) / max(float(ang.norm()), 1e-30))
            quat = state[3:7]
            com = _vec(actor.body_props[0].com)
            com_world = state[0:3] + quat_rotate_xyzw(quat, com)
            turned = quat_multiply_xyzw(quat_from_rotation_vector(ang * dt), quat)
            turned = turned / turned.norm()
            com_world = com_world + lin * dt
            self.root[i, 0:3] = (com_world - quat_rotate_xyzw(turned, com)).float()
            self.root[i, 3:7] = turned.float()
            self.root[i, 7:10], self.root[i, 10:13] = lin.float(), ang.float()


def _vec(v) -> torch.Tensor:
    return torch.tensor([v.x, v.y, v.z], dtype=torch.float64)


def quat_rotate_xyzw(quat: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """Rotate `vector` by the x-y-z-w quaternion `quat` (Isaac Gym's order)."""
    xyz, w = quat[..., 0:3], quat[..., 3:4]
    t = 2.0 * torch.cross(xyz, vector, dim=-1)
    return vector + w * t + torch.cross(xyz, t, dim=-1)


def quat_multiply_xyzw(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    ax, ay, az, aw = a.unbind(-1)
    bx, by, bz, bw = b.unbind(-1)
    return torch.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        dim=-1,
    )


def quat_from_rotation_vector(rotation: torch.Tensor) -> torch.Tensor:
    angle = float(rotation.norm())
    if angle < 1e-12:
        return torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=rotation.dtype)
    axis = rotation / angle
    return torch.cat([axis * math.sin(angle / 2), torch.tensor([math.cos(angle / 2)], dtype=rotation.dtype)])


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
    if count and (int(ids.min()) < 0 or int(ids.max()) >= len(sim.actors)):
        raise IndexError("actor index out of range")
    return ids.long()


def _check_state(sim: Sim, name: str, tensor: Tensor) -> torch.Tensor:
    acquired = sim.acquired.get(name)
    if acquired is None or tensor.torch.data_ptr() != acquired.data_ptr() or tensor.shape != acquired.shape:
        raise ValueError(f"the {name} setter takes the full tensor acquire_{name}_tensor returned")
    return tensor.torch


def _check_per_dof(sim: Sim, what: str, tensor: Tensor) -> torch.Tensor:
    if tensor.torch.numel() != sim.targets.numel() or tensor.torch.dtype != torch.float32:
        raise ValueError(f"{what}: one float32 per DOF of the sim")
    return tensor.torch.reshape(-1)


def _actor(env: Env, handle: int) -> Actor:
    if not 0 <= handle < len(env.actors):
        raise IndexError(f"no actor {handle} in this env")
    return env.actors[handle]


class _GymImplementation:
    """What the toy simulator does for each implemented Gym method (called after the signature check)."""

    def create_sim(self, compute_device=0, graphics_device=0, type=None, params=None):
        return Sim(params)

    def add_ground(self, sim, params):
        sim.ground = params

    def load_asset(self, sim, rootpath, filename, options=None):
        options = options if options is not None else AssetOptions()
        path = Path(rootpath) / filename
        asset = Asset(_urdf_import.import_urdf(path, options), options, path)
        sim.assets.append(asset)
        return asset

    def get_asset_dof_names(self, asset):
        return list(asset.dof_names)

    def get_asset_rigid_body_names(self, asset):
        return list(asset.body_names)

    def get_asset_dof_count(self, asset):
        return asset.num_dofs

    def get_asset_rigid_body_count(self, asset):
        return asset.num_bodies

    def get_asset_rigid_shape_count(self, asset):
        return asset.shapes

    def get_asset_dof_properties(self, asset):
        return asset.dof_properties()

    def create_env(self, sim, lower, upper, per_row):
        if sim.prepared:
            raise RuntimeError("create_env after prepare_sim")
        if sim.envs and not sim.envs[-1].actors:
            raise RuntimeError("create_env before the previous env got an actor")
        i = len(sim.envs)
        origin = Vec3((i % per_row) * (upper.x - lower.x), (i // per_row) * (upper.y - lower.y), 0.0)
        env = Env(sim, origin)
        sim.envs.append(env)
        return env

    def create_actor(self, env, asset, pose, name="", group=0, filter=0, segmentationId=0):
        if env is not env.sim.envs[-1]:
            raise RuntimeError("actors go into the env created last")
        sim = env.sim
        body_start = sum(a.asset.num_bodies for a in sim.actors)
        dof_start = sum(a.asset.num_dofs for a in sim.actors)
        actor = Actor(env, asset, pose, filter, len(sim.actors), body_start, dof_start)
        env.actors.append(actor)
        sim.actors.append(actor)
        return len(env.actors) - 1

    def get_actor_index(self, env, actor, domain):
        if domain is not DOMAIN_SIM:
            raise NotImplementedError("the stand-in answers actor indices of the sim domain only")
        return _actor(env, actor).index

    def get_env_origin(self, env):
        return env.origin

    def get_actor_rigid_shape_properties(self, env, actor):
        return copy.deepcopy(_actor(env, actor).shape_props)

    def set_actor_rigid_shape_properties(self, env, actor, props):
        target = _actor(env, actor)
        if len(props) != len(target.shape_props):
            raise ValueError("one RigidShapeProperties per shape of the actor")
        target.shape_props = copy.deepcopy(list(props))
        return True

    def get_actor_rigid_body_properties(self, env, actor):
        return copy.deepcopy(_actor(env, actor).body_props)

    def set_actor_rigid_body_properties(self, env, actorHandle, props, recomputeInertia=False):
        target = _actor(env, actorHandle)
        if len(props) != len(target.body_props):
            raise ValueError("one RigidBodyProperties per body of the actor")
        target.body_props = copy.deepcopy(list(props))
        return True

    def get_actor_dof_properties(self, env, actor):
        return _actor(env, actor).dof_props.copy()

    def set_actor_dof_properties(self, env, actor, props):
        target = _actor(env, actor)
        if not isinstance(props, np.ndarray) or props.dtype != DOF_PROPERTIES_DTYPE:
            raise TypeError("DOF properties are the structured array get_actor_dof_properties returns")
        if props.shape != target.dof_props.shape:
            raise ValueError("one DOF property row per DOF of the actor")
        target.dof_props = props.copy()
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
        sim._sync_root_bodies()
        sim.acquired["rigid_body_state"].copy_(sim.bodies)
        return True

    def set_dof_position_target_tensor(self, sim, targets):
        sim.targets.copy_(_check_per_dof(sim, "position targets", targets))
        sim.target_log.append(sim.targets.clone())
        return True

    def set_dof_actuation_force_tensor(self, sim, forces):
        sim.actuation.copy_(_check_per_dof(sim, "actuation forces", forces))
        return True

    def set_actor_root_state_tensor_indexed(self, sim, state, indices, count):
        values = _check_state(sim, "actor_root_state", state)
        ids = _check_indices(sim, indices, count)
        if any(sim.actors[i].fixed for i in ids.tolist()):
            raise ValueError("a fixed-base actor's root state cannot be set")
        sim.root[ids] = values[ids]
        sim._sync_root_bodies()
        return True

    def set_dof_state_tensor_indexed(self, sim, state, indices, count):
        values = _check_state(sim, "dof_state", state)
        ids = _check_indices(sim, indices, count)
        rows = []
        for i in ids.tolist():
            actor = sim.actors[i]
            if actor.asset.num_dofs == 0:
                raise ValueError(f"actor {i} has no DOFs")
            rows.extend(range(actor.dof_start, actor.dof_start + actor.asset.num_dofs))
        rows_t = torch.tensor(rows, dtype=torch.long)
        sim.dof[rows_t] = values[rows_t]
        return True

    def simulate(self, sim):
        sim.step()

    def fetch_results(self, sim, wait):
        pass

    def destroy_sim(self, sim):
        pass


def acquire_gym(*args, **kwargs) -> Gym:
    return Gym()
