"""Resolve robot file references: plain paths and `package://<package>/<path>` URIs.

A package is looked up, in order, in the folders of the SPECC_PACKAGE_PATH variable
(os.pathsep separated; each holds package folders), then in the data that installed
Python distributions ship: `share/<package>` under `cmeel.prefix` in site-packages or
any other import path (how example-robot-data installs its robots), and under the
interpreter's prefix.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path

from specc.untrusted_files import is_inside

PACKAGE_PATH_VARIABLE = "SPECC_PACKAGE_PATH"


@lru_cache(maxsize=1)
def _installed_share_dirs() -> tuple[Path, ...]:
    roots: list[str] = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    try:
        roots.extend(site.getsitepackages())
    except AttributeError:  # pragma: no cover - virtualenv without getsitepackages
        pass
    roots.extend(p for p in sys.path if p)  # packages reached through .pth files, PYTHONPATH or --target
    dirs: list[Path] = []
    for root in dict.fromkeys(roots):
        dirs.append(Path(root) / "cmeel.prefix" / "share")
    dirs.append(Path(sys.prefix) / "share")
    return tuple(d for d in dirs if d.is_dir())


def package_search_dirs() -> list[Path]:
    env = os.environ.get(PACKAGE_PATH_VARIABLE, "")
    return [Path(p) for p in env.split(os.pathsep) if p] + list(_installed_share_dirs())


def resolve_uri(uri: str, relative_to: Path) -> Path | None:
    """A filesystem path for `uri`, or None when a package:// URI names no installed package.

    A package URI never leaves its package: `package://pkg/../../etc/passwd`, or a path whose
    symbolic links lead out of the package folder, names no file (None), the same as a missing one.
    """
    if uri.startswith("package://"):
        rest = uri[len("package://") :]
        package, _, inner = rest.partition("/")
        if package in ("", ".", "..") or "\0" in uri:
            return None
        for base in package_search_dirs():
            folder = base / package
            candidate = folder / inner
            try:
                if not candidate.exists():
                    continue
                if not is_inside(os.path.realpath(candidate), os.path.realpath(folder)):
                    return None
            except (OSError, ValueError):  # a name the file system cannot hold names no file
                return None
            return candidate
        return None
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    path = Path(uri)
    return path if path.is_absolute() else relative_to / path
