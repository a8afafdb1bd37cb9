"""The built wheel works on its own: installed in a fresh venv, `specc lint` runs from another folder.

The fresh venv gets only the wheel; its dependencies come from the test environment
through a path file, so the test checks what the wheel ships (grammar, templates,
`specc.runtime` and `specc.templates` under the specc name), not the repository.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_wheel_installs_and_lints_outside_the_repository(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    wheel = next(dist.glob("specc-*.whl"))
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    site = Path(
        subprocess.check_output(
            [str(env / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            text=True,
        ).strip()
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
        timeout=300,
    )
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (env / "bin" / "specc").write_text(f"#!{env / 'bin' / 'python'}\nfrom specc.cli import main\nmain()\n")
    (env / "bin" / "specc").chmod(0o755)
    work = tmp_path / "elsewhere"
    shutil.copytree(ROOT / "tasks", work / "tasks")
    done = subprocess.run(
        [str(env / "bin" / "specc"), "lint", "tasks"], cwd=work, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    shipped = len(list((ROOT / "tasks").glob("*.toml")))
    assert f"All checks passed ({shipped} files)." in done.stdout
    where = subprocess.check_output(
        [
            str(env / "bin" / "python"),
            "-c",
            "import specc, specc.runtime.env, specc.templates; print(specc.__file__)",
        ],
        cwd=work,
        text=True,
    )
    assert where.startswith(str(site))
    done = subprocess.run(
        [str(env / "bin" / "specc"), "compile", "tasks/anymal_walk.toml", "--emit", "out"],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (
        (work / "out" / "anymal_walk_kernels.py").read_text().startswith('"""Kernels of task "anymal_walk"')
    )
