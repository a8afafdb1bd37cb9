"""Generators of hostile inputs for the front end: the shapes that once cost seconds, gigabytes or a traceback.

Shared by the hostile-lint tests and `measure_lint`, which runs `specc lint` in a fresh process and
reports its wall time and peak memory (what the README's threat model quotes).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from layout import TESTS

ROBOTS = TESTS / "robots"
CARTPOLE_URDF = ROBOTS / "cartpole.urdf"
SPEC_LIMIT = 1 << 20
URDF_LIMIT = 32 << 20


def cartpole_spec(urdf: str = "cartpole.urdf", extra: str = "") -> str:
    """A valid cart-pole spec naming `urdf` (relative to the spec), with `extra` TOML appended."""
    return f"""[task]
name = "cartpole"

[robot]
urdf = "{urdf}"
base = "rail"
fixed_base = true
init_height = 1.0

[robot.pd]
slider = {{ stiffness = 60.0, damping = 6.0, effort = 60.0 }}
hinge = {{ stiffness = 0.0, damping = 0.0, effort = 1.0 }}

[[observations]]
name = "joint_pos"
expr = "joint_pos"

[rewards.terms.alive]
expr = "1.0"
weight = 1.0

[terminations.terms.fell]
expr = "abs(joint_pos.hinge) > 0.4"
{extra}"""


def cartpole_urdf(extra: str = "") -> str:
    """The test cart-pole URDF with `extra` XML inserted before </robot>."""
    head, tail = CARTPOLE_URDF.read_text(encoding="utf-8").rsplit("</robot>", 1)
    return head + extra + "</robot>" + tail


def fill_urdf(unit: str, limit: int = URDF_LIMIT - 4096, start: int = 0) -> str:
    """A cart-pole URDF grown to about `limit` bytes by repeating `unit` (formatted with {i})."""
    base = len(cartpole_urdf())
    parts: list[str] = []
    size, i = base, start
    while True:
        piece = unit.format(i=i)
        if size + len(piece) > limit:
            break
        parts.append(piece)
        size += len(piece)
        i += 1
    return cartpole_urdf("".join(parts))


# A fixed link hanging from the pole with an inertia that needs the eigen-solver and a mesh to resolve.
LINK_UNIT = (
    '<link name="l{i}"><inertial><mass value="0.1"/>'
    '<inertia ixx="0.0015" ixy="0.0001" ixz="0" iyy="0.001" iyz="0" izz="0.001"/></inertial>'
    '<visual><geometry><mesh filename="package://nowhere/m{i}.dae"/></geometry></visual>'
    '<collision><geometry><mesh filename="m{i}.stl"/></geometry></collision>'
    '<collision><geometry><sphere radius="0.01"/></geometry></collision></link>'
    '<joint name="j{i}" type="fixed"><parent link="pole"/><child link="l{i}"/></joint>\n'
)


def fill_spec(
    unit: str, limit: int = SPEC_LIMIT - 2048, prefix: str = "", start: int = 0, count: int | None = None
) -> str:
    """A cart-pole spec grown to about `limit` bytes (or `count` units) by appending `unit` (formatted with {i})."""
    text = cartpole_spec() + prefix
    parts: list[str] = []
    size, i = len(text.encode()), start
    while count is None or i - start < count:
        piece = unit.format(i=i)
        if size + len(piece.encode()) > limit:
            break
        parts.append(piece)
        size += len(piece.encode())
        i += 1
    return text + "".join(parts)


# The child reports its own peak memory at exit. Not ru_maxrss: Linux carries it over from the
# forked parent through exec, so a test process holding a 32 MB URDF would be counted in. VmHWM
# in /proc/self/status is the high-water mark of the new program only.
# CPU seconds (user + system) are reported too: on a shared machine they vary far less than wall time.
_CHILD = (
    "import atexit, resource, sys\n"
    "def _peak():\n"
    "    usage = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    sys.stderr.write('\\nCPU_S %.3f\\n' % (usage.ru_utime + usage.ru_stime))\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            sys.stderr.write('\\nPEAK_KB %d\\n' % int(line.split()[1]))\n"
    "atexit.register(_peak)\n"
    "from specc.cli import main\n"
    "sys.argv = ['specc', *sys.argv[1:]]\n"
    "main()\n"
)


def measure_lint(*paths: Path, fmt: str = "text", cwd: Path | None = None) -> Measured:
    """Run `specc lint` on `paths` in a new process: wall and CPU seconds, peak MB, exit code, output."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, "lint", "--format", fmt, *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
    wall = time.perf_counter() - started
    peak = re.search(r"PEAK_KB (\d+)", proc.stderr)
    cpu = re.search(r"CPU_S ([\d.]+)", proc.stderr)
    assert peak and cpu, proc.stderr[-2000:]
    return Measured(
        wall, float(cpu.group(1)), int(peak.group(1)) / 1024, proc.returncode, proc.stdout + proc.stderr
    )


@dataclass
class Measured:
    wall_s: float
    cpu_s: float
    peak_mb: float
    returncode: int
    output: str
