"""The Isaac Gym target: `specc compile --target isaacgym` writes a Python 3.8 package for Isaac Gym.

Nothing here runs the real Isaac Gym (it is on no registry and has no Python 3.11 build): the emitted
code is type-checked against the isaacgym-stubs signatures with mypy for Python 3.8, parsed with
Python 3.8's grammar, its kernels are compared with specc's own in TorchScript, and its task class
is stepped on the CPU against `tests/isaacgym_standin`, which enforces the stubs' signatures.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from isaacgym_support import STANDIN, compile_isaacgym, forget_modules, import_task, make_task
from kernel_support import load_task, random_inputs
from layout import ROOT

from specc.codegen.render import render_module
from specc.diagnostics import DiagnosticSink
from specc.runtime.kernels import import_module, load_kernels
from specc.targets.isaacgym import FEATURES, feature_table_markdown
from specc.task import check_task

TASKS = ROOT / "tasks"
# Shipped tasks the target compiles: two legged robots, an effort-actuated cart-pole, a scene object with
# frames, a manipulator with locked joints and target commands.
PACKAGES = ("anymal_walk", "anymal_multigait", "cartpole", "ball_balance", "panda_reach")
sys.path.insert(0, str(STANDIN))
from stubs import write_stub_tree  # noqa: E402  (tests/isaacgym_standin/stubs.py)


@pytest.fixture(scope="module")
def emitted(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("isaacgym")
    for task in PACKAGES:
        done = compile_isaacgym(TASKS / f"{task}.toml", folder)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
    return folder


def mypy(folder: Path, stubs: Path, *packages: str) -> subprocess.CompletedProcess:
    config = folder / "mypy.ini"
    config.write_text(
        "[mypy]\npython_version = 3.8\nwarn_unused_configs = True\n"
        "[mypy-torch.*]\nfollow_imports = skip\nignore_missing_imports = True\n"
        "[mypy-isaacgym.*]\nignore_errors = True\n"  # the stubs' own flaws are not the package's
        "[mypy-rsl_rl.*]\nignore_missing_imports = True\n"  # train.py's runner: not under test
        # specc's generated module writes a task without terminations as `TERMINATION_NAMES = []`
        # (panda_reach): an unannotated empty list, which is all mypy finds there.
        "[mypy-*.kernels]\ndisable_error_code = var-annotated\n"
    )
    args = [sys.executable, "-m", "mypy", "--config-file", str(config), "--no-incremental"]
    for package in packages:
        args += ["-p", package]
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        cwd=folder,
        env={"MYPYPATH": str(stubs), "PATH": ""},
        timeout=300,
    )


# -- the compile command ----------------------------------------------------------------------------
def test_compile_writes_a_package_per_shipped_task(emitted):
    for task in PACKAGES:
        package = emitted / f"{task}_isaacgym"
        names = sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file())
        objects = ["assets/objects/0.urdf"] if task == "ball_balance" else []
        meshes = sorted(n for n in names if n.startswith("assets/meshes/"))
        assert names == sorted(
            [
                "README.md",
                "__init__.py",
                "assets/robot.urdf",
                "kernels.py",
                "task.py",
                "task_data.py",
                "train.py",
            ]
            + objects
            + meshes
        )
        assert bool(meshes) == (task == "panda_reach")  # the Panda's STL collision meshes


def test_every_emitted_python_file_parses_with_the_python_3_7_and_3_8_grammars(emitted):
    """Isaac Gym's rlgpu environment has Python 3.7; legged_gym recommends 3.8."""
    files = list(emitted.rglob("*.py"))
    assert len(files) == 5 * len(PACKAGES)
    for path in files:
        for version in ((3, 7), (3, 8)):
            ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=version)


def test_emitted_package_imports_only_torch_isaacgym_and_the_standard_library(emitted):
    allowed = {"isaacgym", "torch", "argparse", "math", "os", "sys", "time", "typing"}
    for path in (emitted / "anymal_walk_isaacgym").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""] if node.level == 0 else []
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                assert top in allowed | {"anymal_walk_isaacgym", "rsl_rl"}, f"{path.name} imports {module}"


def test_train_script_says_how_to_install_rsl_rl_when_it_is_missing(emitted):
    done = subprocess.run(
        [sys.executable, "-m", "anymal_walk_isaacgym.train", "--sim-device", "cpu", "--num-envs", "2"],
        capture_output=True,
        text=True,
        cwd=emitted,
        env={"PYTHONPATH": f"{STANDIN}:{emitted}", "PATH": ""},
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "rsl_rl is not installed" in done.stderr
    assert "git+https://github.com/leggedrobotics/rsl_rl.git@v1.0.2" in done.stderr


def test_task_data_is_only_literals(emitted):
    tree = ast.parse((emitted / "anymal_walk_isaacgym" / "task_data.py").read_text())
    assert isinstance(tree.body[1], ast.ImportFrom) and tree.body[1].module == "typing"
    for node in tree.body[2:]:
        assert isinstance(node, (ast.Assign, ast.AnnAssign))
        ast.literal_eval(node.value)  # raises on anything but a literal


def test_emitted_kernels_are_specc_s_generated_module(emitted):
    """The spec as a run on a GPU resolves it ([profile.cuda]): the module's tables hold its settings."""
    task = check_task(TASKS / "anymal_walk.toml", DiagnosticSink("anymal_walk"), run_on="cuda")
    assert task is not None
    emitted_source = (emitted / "anymal_walk_isaacgym" / "kernels.py").read_text()
    assert emitted_source == render_module(task)


def test_emitted_kernels_equal_specc_s_own_in_torchscript(emitted, tmp_path):
    task = load_task(TASKS / "anymal_walk.toml")
    theirs = import_module(emitted / "anymal_walk_isaacgym" / "kernels.py")
    ours = load_kernels(render_module(task), "anymal_walk", "torchscript", folder=tmp_path)
    inputs = random_inputs(task, 64, torch.Generator().manual_seed(3))
    args = [inputs[name] for name in theirs.INPUTS]
    for name in ("compute_observations", "compute_step"):
        scripted = torch.jit.script(getattr(theirs, name))
        got, want = scripted(*args), getattr(ours, name)(*args)
        got, want = (got, want) if isinstance(got, tuple) else ((got,), (want,))
        for a, b in zip(got, want):
            assert torch.equal(a, b)


def test_emitted_package_type_checks_against_the_isaacgym_stubs_for_python_3_8(emitted, tmp_path):
    stubs = write_stub_tree(tmp_path / "stubs")
    done = mypy(emitted, stubs, *(f"{task}_isaacgym" for task in PACKAGES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout


# Each line is a misuse of the gym API that Isaac Gym would reject at run time; mypy must say so.
MISUSES = [
    ("self.gym.simulate(self.sim)", "self.gym.simulate()", 'Missing positional argument "arg0"'),
    (
        "options.default_dof_drive_mode = int(gymapi.DOF_MODE_EFFORT)",
        "options.default_dof_drive_mode = gymapi.DOF_MODE_EFFORT",
        "Incompatible types in assignment",
    ),
    (
        "options.fix_base_link = fixed",
        "options.fix_base = fixed",
        '"AssetOptions" has no attribute "fix_base"',
    ),
    (
        "self.gym.add_ground(sim, plane)",
        "self.gym.add_ground(sim, gymapi.Vec3(0.0, 0.0, 1.0))",
        'Argument 2 to "add_ground" of "Gym" has incompatible type "Vec3"',
    ),
]


def test_type_check_catches_gym_api_misuse(emitted, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(emitted / "anymal_walk_isaacgym", broken / "anymal_walk_isaacgym")
    task_py = broken / "anymal_walk_isaacgym" / "task.py"
    source = task_py.read_text()
    for original, misuse, _ in MISUSES:
        assert source.count(original) == 1
        source = source.replace(original, misuse)
    task_py.write_text(source)
    lines = source.splitlines()
    done = mypy(broken, write_stub_tree(tmp_path / "stubs"), "anymal_walk_isaacgym")
    assert done.returncode == 1
    for _, misuse, complaint in MISUSES:
        line = next(i for i, text in enumerate(lines, 1) if misuse in text)
        assert f"task.py:{line}: error: {complaint}" in done.stdout, done.stdout
    assert done.stdout.count(": error:") == len(MISUSES), done.stdout


# -- the task class against the stand-in ------------------------------------------------------------
@pytest.fixture
def task_module(emitted, monkeypatch):
    yield import_task(emitted, "anymal_walk_isaacgym", monkeypatch)
    forget_modules("anymal_walk_isaacgym")


def calls_since(gymapi, start: int) -> list[str]:
    return [name for name, _ in gymapi.CALLS[start:]]


def test_stand_in_rejects_calls_that_do_not_fit_the_stubs(task_module):
    from isaacgym import gymapi

    gym = gymapi.acquire_gym()
    with pytest.raises(TypeError, match="arg0"):
        gym.simulate()
    with pytest.raises(TypeError, match="wrong types"):
        gym.create_env(gymapi.Vec3(), gymapi.Vec3(), gymapi.Vec3(), 2)
    with pytest.raises(AttributeError, match="not in isaacgym-stubs"):
        gym.simulate_everything(None)
    with pytest.raises(AttributeError, match="no field"):
        gymapi.AssetOptions().fix_base = True
    with pytest.raises(TypeError, match="int"):
        gymapi.AssetOptions().default_dof_drive_mode = gymapi.DOF_MODE_POS


def test_vec_env_interface_and_tensor_shapes(task_module):
    task = make_task(task_module)
    data = task_module.data
    assert (task.num_envs, task.num_obs, task.num_actions, task.num_privileged_obs) == (4, 48, 12, None)
    assert task.max_episode_length == round(data.EPISODE_LENGTH_S / (data.PHYSICS_DT * data.DECIMATION))
    assert task.get_observations().shape == (4, 48) and task.get_privileged_observations() is None
    obs, privileged, rew, dones, extras = task.step(torch.zeros(4, 12))
    assert obs.shape == (4, 48) and obs.dtype == torch.float32 and privileged is None
    assert rew.shape == (4,) and dones.shape == (4,) and dones.dtype == torch.bool
    assert extras["time_outs"].shape == (4,) and extras["time_outs"].dtype == torch.bool
    assert task.episode_length_buf.tolist() == [1, 1, 1, 1]
    assert obs is task.obs_buf and rew is task.rew_buf and dones is task.reset_buf


def test_creation_uses_specc_s_physics_as_asset_options_and_dof_properties(task_module):
    from isaacgym import gymapi

    task = make_task(task_module)
    data = task_module.data
    sim = task.sim
    options = sim.asset.options
    assert options.fix_base_link is False and options.collapse_fixed_joints is True
    assert options.default_dof_drive_mode == int(gymapi.DOF_MODE_EFFORT)
    assert (options.density, options.angular_damping, options.linear_damping) == (0.001, 0.0, 0.0)
    assert options.max_angular_velocity == options.max_linear_velocity == 1e4
    assert set(data.CONTACT_BODIES) <= set(sim.asset.body_names)  # dont_collapse kept them apart
    assert "base_inertia" not in sim.asset.body_names  # merged into the base
    for env in sim.envs:
        props = env.dof_props[task.dof_index]
        assert props["driveMode"].tolist() == [int(gymapi.DOF_MODE_EFFORT)] * 12
        assert (
            props["stiffness"].tolist()
            == props["damping"].tolist()
            == props["friction"].tolist()
            == [0.0] * 12
        )
        assert props["hasLimits"].tolist() == [True] * 12
        assert props["lower"].tolist() == pytest.approx([lim[0] for lim in data.JOINT_LIMITS])
        assert env.filter == (0 if data.SELF_COLLISION else 1)
    assert task.kp.tolist() == [data.STIFFNESS] * 4 and task.kd.tolist() == [data.DAMPING] * 4
    assert sim.asset.dof_names != data.JOINT_NAMES  # the stand-in orders DOFs by name: mapped by name


def test_randomized_parameters_go_through_shape_and_body_properties_and_the_gains(task_module):
    task = make_task(task_module, randomize=True, num_envs=8)
    r = task_module.data.RANDOMIZATION
    frictions = [env.shape_props[0].friction for env in task.sim.envs]
    ground = task.sim.ground.static_friction
    assert ground == r["friction"][0]
    effective = [(f + ground) / 2 for f in frictions]  # PhysX averages the two frictions
    assert all(r["friction"][0] <= f <= r["friction"][1] for f in effective) and len(set(frictions)) == 8
    stiffness = task.kp[:, 0].tolist()
    low, high = r["motor_strength"]
    assert all(80 * low - 1e-3 <= k <= 80 * high + 1e-3 for k in stiffness) and len(set(stiffness)) == 8
    assert torch.allclose(
        task.kd[:, 0] / task.kp[:, 0], torch.full((8,), 2.0 / 80.0)
    )  # one strength scales both
    damping = task.passive_damping[:, 0].tolist()
    assert (
        all(r["joint_damping"][0] <= d <= r["joint_damping"][1] for d in damping) and len(set(damping)) == 8
    )
    base = task.sim.asset.body_names.index("base")
    nominal = task.sim.asset.mass["base"]
    masses = [env.body_props[base].mass for env in task.sim.envs]
    assert all(
        nominal + r["base_mass_add"][0] - 1e-6 <= m <= nominal + r["base_mass_add"][1] + 1e-6 for m in masses
    )


def test_a_step_refreshes_then_computes_then_resets_with_indexed_setters(task_module):
    from isaacgym import gymapi

    task = make_task(task_module)
    task.sim.root[2, 2] = 0.1  # env 2's base is below the base_too_low threshold after this step
    start = len(gymapi.CALLS)
    task.step(torch.zeros(4, 12))
    physics = ["set_dof_actuation_force_tensor", "simulate", "fetch_results", "refresh_dof_state_tensor"]
    refresh = [
        "refresh_actor_root_state_tensor",
        "refresh_net_contact_force_tensor",
        "refresh_rigid_body_state_tensor",
    ]
    writes = ["set_dof_state_tensor_indexed", "set_actor_root_state_tensor_indexed"]
    assert calls_since(gymapi, start) == physics * task_module.data.DECIMATION + refresh + writes
    assert task.reset_buf.tolist() == [False, False, True, False]


def test_resets_touch_only_done_envs_with_int32_actor_indices(task_module):
    from isaacgym import gymapi

    task = make_task(task_module)
    task.step(torch.zeros(4, 12))
    sim = task.sim
    sim.root[1, 2] = 0.1
    before_dofs = sim.dof.view(4, 12, 2).clone()
    start = len(gymapi.CALLS)
    task.step(torch.full((4, 12), 0.3))
    indexed = [(n, a) for n, a in gymapi.CALLS[start:] if n.endswith("_indexed")]
    assert [n for n, _ in indexed] == ["set_dof_state_tensor_indexed", "set_actor_root_state_tensor_indexed"]
    for _, arguments in indexed:
        ids = arguments["arg2"].torch
        assert ids.dtype == torch.int32 and ids.tolist() == [1] and arguments["arg3"] == 1
    dofs = sim.dof.view(4, 12, 2)
    assert torch.equal(dofs[1, :, 1], torch.zeros(12))  # env 1 restarted at rest ...
    assert torch.equal(sim.root[1, 2], torch.tensor(task_module.data.INIT_HEIGHT))  # ... at the start height
    for env in (0, 2, 3):  # the others kept what the physics gave them
        assert not torch.equal(dofs[env], before_dofs[env])
        assert sim.root[env, 2] == pytest.approx(task_module.data.INIT_HEIGHT)
    assert task.episode_length_buf.tolist() == [2, 0, 2, 2]


def test_pd_targets_are_default_plus_scale_times_action(task_module):
    """A joint standing still at default + scale x action gets no torque: that is its PD target."""
    task = make_task(task_module)
    data = task_module.data
    actions = torch.linspace(-1, 1, 12).repeat(4, 1)
    targets = torch.tensor(data.DEFAULT_JOINT_POS) + torch.tensor(data.ACTION_SCALE) * actions
    dofs = task.sim.dof.view(4, -1, 2)
    dofs[:, task.dof_index, 0] = targets
    dofs[:, task.dof_index, 1] = 0.0
    task.gym.refresh_dof_state_tensor(task.sim)
    task.sim.applied_log.clear()
    task.step(actions)
    assert task.sim.applied_log[0].abs().max() < 1e-4


def test_latency_holds_the_previous_targets_for_the_first_physics_steps(task_module):
    task = make_task(task_module)
    data = task_module.data
    task.latency_steps[:] = torch.tensor([0, 1, 2, 4])
    previous = task.last_targets.clone()
    task.sim.applied_log.clear()
    task.sim.state_log.clear()
    task.step(torch.ones(4, 12))
    new = torch.tensor(data.DEFAULT_JOINT_POS) + torch.tensor(data.ACTION_SCALE)
    kp, kd, effort = torch.tensor(data.STIFFNESS), torch.tensor(data.DAMPING), torch.tensor(data.EFFORT)
    assert len(task.sim.applied_log) == data.DECIMATION == 4
    for s, (state, applied) in enumerate(zip(task.sim.state_log, task.sim.applied_log)):
        q = state.view(4, -1, 2)[:, task.dof_index, 0]
        dq = state.view(4, -1, 2)[:, task.dof_index, 1]
        for env, latency in enumerate([0, 1, 2, 4]):
            target = previous[env] if s < latency else new
            want = torch.clamp(kp * (target - q[env]) - kd * dq[env], -effort, effort)
            assert torch.allclose(applied.view(4, -1)[env, task.dof_index], want, atol=1e-4), (env, s)


def test_pushes_happen_on_their_interval_through_the_indexed_root_setter(task_module):
    from isaacgym import gymapi

    task = make_task(task_module, randomize=True)
    r = task_module.data.RANDOMIZATION
    assert task.push_every == round(
        r["push_interval_s"] / (task_module.data.PHYSICS_DT * task_module.data.DECIMATION)
    )
    task.push_every = 3
    pushed = []
    for step in range(1, 8):
        task.sim.root[:, 2] = task_module.data.INIT_HEIGHT  # stay up: no resets
        start = len(gymapi.CALLS)
        task.step(torch.zeros(4, 12))
        roots = [a for n, a in gymapi.CALLS[start:] if n == "set_actor_root_state_tensor_indexed"]
        if roots and roots[0]["arg3"] == 4:
            pushed.append(step)
            lin = task.sim.root[:, 7:9]
            assert bool((lin.abs() <= r["push_max_vel"]).all()) and bool((lin != 0).any())
    assert pushed == [3, 6]


def test_contact_forces_are_read_per_tracked_body(task_module):
    task = make_task(task_module)
    data = task_module.data
    names = task.sim.asset.body_names
    contact = task.sim.contact.view(4, len(names), 3)
    contact[0, names.index("base"), 2] = 50.0  # the base touches the ground: base_contact ends env 0
    _, _, _, dones, _ = task.step(torch.zeros(4, 12))
    assert dones.tolist() == [True, False, False, False]
    assert data.CONTACT_BODIES[0] == "base"


# -- the feature table and the target's diagnostics -------------------------------------------------
def test_readme_feature_table_is_the_code_s_table():
    readme = (ROOT / "README.md").read_text()
    assert feature_table_markdown() in readme
    assert {f.fidelity for f in FEATURES} <= {"same", "differs", "unavailable", "outside"}


def test_emitted_readme_carries_the_feature_table(emitted):
    assert feature_table_markdown() in (emitted / "anymal_walk_isaacgym" / "README.md").read_text()


def test_a_feature_the_target_cannot_express_is_an_error_at_its_position(tmp_path):
    urdf = (ROOT / "tests" / "robots" / "cartpole.urdf").read_text()
    link_end = urdf.index("</link>")
    mesh = '<collision><geometry><mesh filename="pole.msh"/></geometry></collision>'
    (tmp_path / "cartpole.urdf").write_text(urdf[:link_end] + mesh + urdf[link_end:])
    (tmp_path / "pole.msh").write_bytes(b"\0" * 16)
    spec = (
        (ROOT / "tests" / "specs" / "cartpole.toml")
        .read_text()
        .replace("../robots/cartpole.urdf", "cartpole.urdf")
    )
    spec = spec.replace("[sim]\n", "[sim]\nmax_constraints_per_env = 64\n")
    (tmp_path / "cartpole.toml").write_text(spec)
    done = compile_isaacgym(tmp_path / "cartpole.toml", tmp_path / "out")
    assert done.returncode == 1, done.stdout
    lines = spec.splitlines()
    urdf_line = next(i for i, line in enumerate(lines, 1) if line.startswith("urdf ="))
    constraints_line = next(
        i for i, line in enumerate(lines, 1) if line.startswith("max_constraints_per_env")
    )
    assert f"cartpole.toml:{urdf_line}:8: SPC501 [error]" in done.stdout
    assert "pole.msh" in done.stdout
    assert f"cartpole.toml:{constraints_line}:1: SPC501 [warning]" in done.stdout
    assert not (tmp_path / "out").exists()


def test_categorical_commands_set_their_values(emitted, monkeypatch):
    module = import_task(emitted, "anymal_multigait_isaacgym", monkeypatch)
    try:
        task = make_task(module, num_envs=16)
        names = module.data.COMMAND_NAMES
        gait = task.commands[:, names.index("gait")]
        speed = task.commands[:, names.index("lin_vel_x")]
        table = torch.tensor(module.data.CATEGORICAL_COMMANDS[0]["values"]["lin_vel_x"])
        assert set(gait.tolist()) <= {0.0, 1.0, 2.0} and len(set(gait.tolist())) > 1
        assert torch.equal(speed, table[gait.long()])
    finally:
        forget_modules("anymal_multigait_isaacgym")


def pd_cartpole(folder: Path) -> Path:
    """The test cart-pole with both joints position-driven (the target has no effort or passive joints)."""
    text = (ROOT / "tests" / "specs" / "cartpole.toml").read_text(encoding="utf-8")
    text = text.replace(
        'urdf = "../robots/cartpole.urdf"', f'urdf = "{ROOT / "tests" / "robots" / "cartpole.urdf"}"'
    )
    text = text.replace('passive = ["hinge"]\n', "")
    text = text.replace(
        "[robot.torque]\nslider = { scale = 10.0, effort = 20.0 }",
        "[robot.pd]\nslider = { stiffness = 60.0, damping = 6.0, effort = 60.0 }\n"
        "hinge = { stiffness = 0.0, damping = 0.0, effort = 1.0 }",
    )
    path = folder / "cartpole.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_joint_friction_is_refused_at_the_urdf(tmp_path):
    urdf = (ROOT / "tests" / "robots" / "cartpole.urdf").read_text()
    assert urdf.count('friction="0.0"') == 1
    urdf = urdf.replace('friction="0.0"', 'friction="0.3"')
    (tmp_path / "cartpole.urdf").write_text(urdf)
    spec = (
        (ROOT / "tasks" / "cartpole.toml")
        .read_text()
        .replace('urdf = "robots/cartpole.urdf"', 'urdf = "cartpole.urdf"')
    )
    (tmp_path / "cartpole.toml").write_text(spec)
    done = compile_isaacgym(tmp_path / "cartpole.toml", tmp_path / "out")
    assert done.returncode == 1, done.stdout
    line = next(i for i, text in enumerate(spec.splitlines(), 1) if text.startswith("urdf ="))
    assert (
        f"cartpole.toml:{line}:8: SPC501 [error] URDF joint friction (hinge) cannot be expressed"
        in done.stdout
    )
    assert not (tmp_path / "out").exists()


def test_rough_terrain_is_refused_at_its_positions(tmp_path):
    done = compile_isaacgym(ROOT / "tasks" / "anymal_rough.toml", tmp_path)
    assert done.returncode == 1
    for what in ("terrain tiles (heightfields and their curriculum)", "height scans"):
        assert f"SPC501 [error] the Isaac Gym target does not implement {what} yet" in done.stdout
    text = (ROOT / "tasks" / "anymal_rough.toml").read_text(encoding="utf-8").splitlines()
    line = next(line for line in done.stdout.splitlines() if "does not implement terrain tiles" in line)
    number = int(line.split(":")[1])
    assert text[number - 1].startswith("type = "), line


def test_sac_and_a_critic_group_are_refused_at_their_positions(tmp_path):
    spec = pd_cartpole(tmp_path)
    text = spec.read_text(encoding="utf-8")
    text = text.replace(
        "[rewards]\n", '[[critic_observations]]\nname = "clock"\nexpr = "episode_time"\n\n[rewards]\n'
    )
    text = text[: text.index("[ppo]")] + '[algorithm]\nname = "sac"\n\n' + text[text.index("[eval]") :]
    spec.write_text(text, encoding="utf-8")
    done = compile_isaacgym(spec, tmp_path / "out")
    assert done.returncode == 1
    lines = text.splitlines()
    for what, key in (
        ("SAC (its train.py runs rsl_rl's PPO)", 'name = "sac"'),
        ("a critic observation group", "[[critic_observations]]"),
    ):
        line = lines.index(key) + 1
        assert f":{line}:" in done.stdout.split(f"does not implement {what}")[0].splitlines()[-1], done.stdout


def test_cartpole_fixed_base_compiles_and_steps(tmp_path, monkeypatch):
    done = compile_isaacgym(pd_cartpole(tmp_path), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    module = import_task(tmp_path, "cartpole_isaacgym", monkeypatch)
    from isaacgym import gymapi

    try:
        task = module.SpeccTask(num_envs=3, sim_device="cpu", randomize=False)
        assert task.sim.asset.options.fix_base_link is True
        start = len(gymapi.CALLS)
        task.sim.dof.view(3, 2, 2)[1, :, 0] = 3.0  # env 1 ends the step with its pole beyond 0.4 rad
        task.step(torch.zeros(3, 2))
        names = calls_since(gymapi, start)
        assert "set_actor_root_state_tensor_indexed" not in names  # a fixed base has no root state to write
        assert "set_dof_state_tensor_indexed" in names
        assert task.reset_buf.tolist() == [False, True, False]
    finally:
        forget_modules("cartpole_isaacgym")


def test_anymal_walk_gets_a_positioned_warning_for_each_difference_it_uses():
    from specc.diagnostics import DiagnosticSink, Severity
    from specc.spec.load import load_spec
    from specc.targets.isaacgym import check_target

    path = TASKS / "anymal_walk.toml"
    task = load_task(path)
    sink = DiagnosticSink(str(path))
    check_target(task, load_spec(path, DiagnosticSink(str(path))).positions, sink)
    lines = path.read_text().splitlines()

    def line_of(prefix: str) -> int:
        return next(i for i, text in enumerate(lines, 1) if text.startswith(prefix))

    found = {(d.position.line, d.message.split(" differs")[0]) for d in sink.items}
    assert all(d.code == "SPC501" and d.severity is Severity.WARNING for d in sink.items)
    assert found == {
        (line_of("urdf ="), "on Isaac Gym the mass of base"),  # density on the massless base link
        (
            line_of("urdf ="),
            "on Isaac Gym the collision shape of base collision 1, base collision 2, base collision 3, ...",
        ),
        (
            line_of("base_mass_add"),
            "on Isaac Gym the randomization of randomization.base_mass_add, "
            "randomization.link_mass_scale, randomization.friction, ...",
        ),  # physical parameters sampled at creation
        (line_of("[ppo]"), "on Isaac Gym the observation normalization of ppo.empirical_normalization"),
    }


def test_reset_pose_follows_the_spec_s_distribution_inside_the_joint_limits(task_module):
    task = make_task(task_module, num_envs=64)
    data = task_module.data
    pose = task.sim.dof.view(64, -1, 2)[:, task.dof_index, 0]  # what the reset wrote to the simulator
    default = torch.tensor(data.DEFAULT_JOINT_POS)
    low, high = data.RESET_JOINT_POS_SCALE
    bounds = torch.stack([default * low, default * high])
    assert bool((pose >= bounds.min(0).values - 1e-6).all() and (pose <= bounds.max(0).values + 1e-6).all())
    limits = torch.tensor(data.RESET_CLAMP)
    assert bool((pose >= limits[:, 0]).all() and (pose <= limits[:, 1]).all())
    moving = default != 0
    assert bool((pose[:, moving] != default[moving]).all())  # drawn, not the default itself


def test_stand_in_imports_urdfs_as_isaac_gym_documents_it(tmp_path, task_module):
    """Density for a link without <inertial>, a welded link merged into its parent (parallel axes),
    a cylinder as a 20-sided prism: numbers worked out by hand."""
    from isaacgym import gymapi

    (tmp_path / "two.urdf").write_text(
        """<robot name="two">
  <link name="a"><collision><geometry><box size="1 2 3"/></geometry></collision></link>
  <joint name="weld" type="fixed"><parent link="a"/><child link="b"/><origin xyz="0 0 1"/></joint>
  <link name="b"><inertial><mass value="6000"/><inertia ixx="1" ixy="0" ixz="0" iyy="1" iyz="0" izz="1"/></inertial>
    <collision><geometry><cylinder radius="1" length="1"/></geometry></collision></link>
</robot>"""
    )
    gym = gymapi.acquire_gym()
    sim = gym.create_sim(0, -1, gymapi.SIM_PHYSX, gymapi.SimParams())
    options = gymapi.AssetOptions()
    with pytest.raises(AttributeError, match="no documented default"):
        gym.load_asset(sim, str(tmp_path), "two.urdf", options)
    options.collapse_fixed_joints, options.replace_cylinder_with_capsule = True, False
    options.default_dof_drive_mode = int(gymapi.DOF_MODE_EFFORT)
    asset = gym.load_asset(sim, str(tmp_path), "two.urdf", options)
    assert asset.body_names == ["a"]
    body = asset.imported.body_mass["a"]
    assert body.mass == pytest.approx(6000.0 + 6000.0)  # 1000 kg/m^3 x 6 m^3, and b's own
    assert body.com.tolist() == pytest.approx([0.0, 0.0, 0.5])  # halfway between the two
    # a's box about its centre: m/12 (2^2 + 3^2) = 6500 about x; b: 1 + parallel axes 2 x 6000 x 0.5^2.
    assert body.inertia[0, 0] == pytest.approx(6500 + 1 + 2 * 6000 * 0.25)
    prism = [s for s in asset.imported.body_shapes["a"] if s.link == "b"][0]
    assert (prism.kind, prism.slices) == ("prism", 20)
    options.density = 0.001
    light = gym.load_asset(sim, str(tmp_path), "two.urdf", options)
    assert light.imported.body_mass["a"].mass == pytest.approx(6000.006)
