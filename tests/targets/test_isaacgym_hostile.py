"""Hostile inputs of the Isaac Gym target: what a pull request's spec and URDF can make it read, write or emit.

The target copies collision meshes into the package; it copies only files the guarded reader accepts
(inside the spec's folder, the URDF's or its package, regular, size-checked), and refuses the rest
with a positioned diagnostic before anything is written. The package is written whole or not at all,
never through a planted link; user text reaches the emitted files escaped.
"""

from __future__ import annotations

import ast
import errno
import os
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from hostile_inputs import cartpole_spec, cartpole_urdf
from isaacgym_support import compile_isaacgym

from specc.diagnostics import DiagnosticSink
from specc.targets.isaacgym import emit_package
from specc.task import check_task

MESH_LINK = """
  <joint name="marker_weld" type="fixed"><parent link="pole"/><child link="marker"/></joint>
  <link name="marker">
    <inertial><mass value="0.01"/><inertia ixx="1e-6" ixy="0" ixz="0" iyy="1e-6" iyz="0" izz="1e-6"/></inertial>
    <collision><geometry><mesh filename="{mesh}"/></geometry></collision>
  </link>
"""
SECRET = "-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAA"
# A binary STL of one triangle: 80-byte header, a count, one facet.
STL = b"specc test mesh".ljust(80, b"\0") + (1).to_bytes(4, "little") + bytes(50)


def robot_folder(tmp_path: Path, mesh: str) -> Path:
    folder = tmp_path / "spec"
    folder.mkdir()
    (folder / "robot.urdf").write_text(cartpole_urdf(MESH_LINK.format(mesh=mesh)), encoding="utf-8")
    (folder / "cartpole.toml").write_text(cartpole_spec("robot.urdf"), encoding="utf-8")
    return folder


def refused_mesh(tmp_path: Path, mesh: str, name: str) -> str:
    """Compile a spec whose URDF names `mesh`; the compile must refuse it at robot.urdf and write nothing."""
    folder = tmp_path / "spec"
    done = compile_isaacgym(folder / "cartpole.toml", tmp_path / "out")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    urdf_line = cartpole_spec("robot.urdf").splitlines().index('urdf = "robot.urdf"') + 1
    assert (
        f"cartpole.toml:{urdf_line}:8: SPC003 [error] link 'marker': collision mesh '{name}'" in done.stdout
    ), done.stdout
    assert "the package does not copy it" in done.stdout
    assert not (tmp_path / "out").exists()
    return done.stdout


@pytest.fixture
def secret(tmp_path) -> Path:
    (tmp_path / "home" / ".ssh").mkdir(parents=True)
    key = tmp_path / "home" / ".ssh" / "id_rsa.stl"
    key.write_text(SECRET)
    return key


def test_a_mesh_linked_to_a_kernel_file_is_refused_and_never_copied(tmp_path):
    folder = robot_folder(tmp_path, "environ.stl")
    os.symlink("/proc/self/environ", folder / "environ.stl")
    out = refused_mesh(tmp_path, "environ.stl", "environ.stl")
    assert os.environ.get("PATH", "/bin") not in out


def test_a_mesh_linked_to_a_private_key_outside_the_spec_is_refused(tmp_path, secret):
    folder = robot_folder(tmp_path, "key.stl")
    os.symlink(secret, folder / "key.stl")
    assert SECRET not in refused_mesh(tmp_path, "key.stl", "key.stl")


def test_an_absolute_mesh_path_outside_the_spec_is_refused(tmp_path, secret):
    robot_folder(tmp_path, str(secret))
    assert SECRET not in refused_mesh(tmp_path, str(secret), secret.name)


def test_a_mesh_path_that_climbs_out_of_the_spec_is_refused(tmp_path):
    (tmp_path / "outside.stl").write_bytes(STL)
    robot_folder(tmp_path, "../outside.stl")
    refused_mesh(tmp_path, "../outside.stl", "outside.stl")


def test_an_oversized_mesh_is_refused_before_it_is_read(tmp_path):
    folder = robot_folder(tmp_path, "huge.stl")
    with open(folder / "huge.stl", "wb") as handle:
        handle.truncate(65 << 20)  # sparse: nothing is written, the size alone refuses it
    out = refused_mesh(tmp_path, "huge.stl", "huge.stl")
    assert "larger than 64 MiB" in out


def test_a_fifo_mesh_neither_hangs_nor_is_copied(tmp_path):
    folder = robot_folder(tmp_path, "pipe.stl")
    os.mkfifo(folder / "pipe.stl")
    done = compile_isaacgym(folder / "cartpole.toml", tmp_path / "out")  # a 300 s timeout guards the hang
    assert "Traceback" not in done.stderr
    copied = [p.name for p in (tmp_path / "out").rglob("*")] if (tmp_path / "out").exists() else []
    assert not any("pipe" in name for name in copied)


def test_a_mesh_inside_the_spec_s_folder_is_copied_byte_for_byte(tmp_path):
    folder = robot_folder(tmp_path, "meshes/marker.stl")
    (folder / "meshes").mkdir()
    (folder / "meshes" / "marker.stl").write_bytes(STL)
    done = compile_isaacgym(folder / "cartpole.toml", tmp_path / "out")
    assert done.returncode == 0, done.stdout + done.stderr
    copies = list((tmp_path / "out" / "cartpole_isaacgym" / "assets" / "meshes").iterdir())
    assert [p.name for p in copies] == ["0_marker.stl"] and copies[0].read_bytes() == STL
    urdf = ElementTree.parse(tmp_path / "out" / "cartpole_isaacgym" / "assets" / "robot.urdf").getroot()
    assert [m.get("filename") for m in urdf.iter("mesh")] == ["meshes/0_marker.stl"]


# -- writing the package ----------------------------------------------------------------------------
def cartpole_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "spec"
    folder.mkdir()
    (folder / "cartpole.urdf").write_text(cartpole_urdf(), encoding="utf-8")
    (folder / "cartpole.toml").write_text(cartpole_spec(), encoding="utf-8")
    return folder / "cartpole.toml"


def test_a_symlinked_output_folder_is_refused(tmp_path):
    spec = cartpole_folder(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, tmp_path / "out")
    done = compile_isaacgym(spec, tmp_path / "out")
    assert done.returncode == 1 and "is a symbolic link" in done.stderr, done.stderr
    assert list(elsewhere.iterdir()) == []


def test_a_symlinked_package_folder_is_refused_and_its_target_untouched(tmp_path):
    spec = cartpole_folder(tmp_path)
    (tmp_path / "out").mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "task.py").write_text("mine")
    os.symlink(victim, tmp_path / "out" / "cartpole_isaacgym")
    done = compile_isaacgym(spec, tmp_path / "out")
    assert done.returncode == 1 and "is a symbolic link; it is not replaced" in done.stderr, done.stderr
    assert [p.name for p in victim.iterdir()] == ["task.py"] and (victim / "task.py").read_text() == "mine"


def test_links_planted_in_a_previous_package_are_replaced_not_followed(tmp_path):
    spec = cartpole_folder(tmp_path)
    assert compile_isaacgym(spec, tmp_path / "out").returncode == 0
    package = tmp_path / "out" / "cartpole_isaacgym"
    victim = tmp_path / "victim.py"
    victim.write_text("mine")
    (package / "task.py").unlink()
    os.symlink(victim, package / "task.py")
    assert compile_isaacgym(spec, tmp_path / "out").returncode == 0
    assert victim.read_text() == "mine" and not (package / "task.py").is_symlink()
    assert "class SpeccTask" in (package / "task.py").read_text()


def test_a_full_disk_leaves_the_previous_package_whole_and_no_temporary(tmp_path, monkeypatch):
    import specc.targets.package_files as package_files

    spec = cartpole_folder(tmp_path)
    task = check_task(spec, DiagnosticSink(str(spec)), run_on="cuda")
    assert task is not None
    root = emit_package(task, tmp_path / "out")
    before = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    writes = []

    def full_disk(fd, data):
        writes.append(len(data))
        if len(writes) > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    monkeypatch.setattr(package_files.os, "write", full_disk)
    with pytest.raises(OSError, match="no space left on the device"):
        emit_package(task, tmp_path / "out")
    monkeypatch.undo()
    after = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cartpole_isaacgym"]


def test_a_first_write_on_a_full_disk_leaves_nothing(tmp_path, monkeypatch):
    import specc.targets.package_files as package_files

    spec = cartpole_folder(tmp_path)
    task = check_task(spec, DiagnosticSink(str(spec)), run_on="cuda")

    def full_disk(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(package_files.os, "write", full_disk)
    with pytest.raises(OSError, match="no space left on the device"):
        emit_package(task, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


# -- user text in emitted files ---------------------------------------------------------------------
def test_markup_in_a_robot_name_and_file_name_stays_text(tmp_path):
    folder = tmp_path / "spec"
    folder.mkdir()
    name = 'evil---><link name="injected"/><!--"""'
    escaped = name.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    urdf = cartpole_urdf().replace('<robot name="cartpole">', f'<robot name="{escaped}">')
    assert escaped in urdf
    (folder / "cartpole.urdf").write_text(urdf, encoding="utf-8")
    spec_name = 'x|y`<b>"""\\.toml'
    (folder / spec_name).write_text(cartpole_spec(), encoding="utf-8")
    done = compile_isaacgym(folder / spec_name, tmp_path / "out")
    assert done.returncode == 0, done.stdout + done.stderr
    package = tmp_path / "out" / "cartpole_isaacgym"
    text = (package / "assets" / "robot.urdf").read_text(encoding="utf-8")
    root = ElementTree.fromstring(text)
    assert root.get("name") == name
    assert [link.get("name") for link in root.iter("link")] == ["rail", "cart", "pole"]
    assert text.count("<!--") == text.count("-->") == 1 + text.count("inertia repaired")
    for path in package.rglob("*.py"):
        ast.parse(path.read_text(encoding="utf-8"), feature_version=(3, 7))
    readme = (package / "README.md").read_text(encoding="utf-8")
    assert "<b>" not in readme and "x\\|y\\`\\<b\\>" in readme
