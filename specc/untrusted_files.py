"""Read files that an untrusted pull request may have planted: regular files only, bounded, never blocking.

`specc lint` runs on pull requests, so a "spec" may be a symbolic link to `~/.aws/credentials`,
a FIFO that never answers, `/dev/zero`, or a 50 MB file. Every front-end read goes through
`read_limited`, which decides from `stat` (which opens nothing) before it opens anything, opens
with O_NONBLOCK so that a file swapped for a FIFO cannot hang it, checks that the opened file is
the one it inspected, and stops reading at the limit even if the file grows. A refused file is a
`FileRefused` whose message names the file and the reason, never anything read from it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

# Kernel file systems: their "regular" files (/proc/self/environ) report size 0 and hold secrets.
KERNEL_ROOTS = ("/proc", "/sys", "/dev")


class FileRefused(Exception):
    """A file the front end will not read; `message` is safe to print (it holds no file content).

    `reason`: "missing" (no such file, or it cannot be opened), "too_large", or "unsafe" (a link out
    of its folder, a FIFO, a device, a socket, a folder, a kernel file): callers map it to their codes.
    """

    def __init__(self, message: str, reason: str = "unsafe") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason

    @property
    def missing(self) -> bool:
        return self.reason == "missing"


def is_inside(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or lies below it (both absolute, normalised)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def escapes_folder(path: Path, folder: Path) -> bool:
    """Whether `path` names a place inside `folder` but symbolic links take it outside.

    A path written to leave the folder (absolute, or with `..`) is the writer's explicit choice and
    is not an escape; a path that looks inside but resolves outside is a planted link.
    """
    lexical = os.path.normpath(os.path.abspath(path))
    folder_lexical = os.path.normpath(os.path.abspath(folder))
    if not is_inside(lexical, folder_lexical):
        return False
    return not is_inside(os.path.realpath(path), os.path.realpath(folder))


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_regular(path: Path, what: str, within: Path | None = None) -> os.stat_result:
    """The stat of `path` if the front end may read it; FileRefused (naming no content) otherwise."""
    try:
        if within is not None and escapes_folder(path, within):
            raise FileRefused(f"{what} is a symbolic link to a place outside {within}; it is not read")
        real = os.path.realpath(path)
        if any(is_inside(real, root) for root in KERNEL_ROOTS):
            raise FileRefused(f"{what} is a kernel file ({real.split(os.sep)[1]}); it is not read")
        info = os.stat(path)  # follows links, opens nothing: safe on FIFOs and devices
    except OSError as err:
        missing = err.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)
        raise FileRefused(
            f"cannot read {what}: {err.strerror or err}", "missing" if missing else "unsafe"
        ) from None
    except ValueError:  # a NUL in the name: no file has it
        raise FileRefused(f"cannot read {what}: the name holds a NUL character", "missing") from None
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused(f"{what} is {_kind(info.st_mode)}, not a regular file; it is not read")
    return info


def read_limited(path: Path, limit: int, what: str, within: Path | None = None) -> bytes:
    """The bytes of regular file `path`, at most `limit` of them; FileRefused for anything else."""
    info = check_regular(path, what, within)
    if info.st_size > limit:
        raise FileRefused(f"{what} is larger than {_size(limit)} ({_size(info.st_size)})", "too_large")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise FileRefused(f"cannot read {what}: {err.strerror or err}", "missing") from None
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            raise FileRefused(f"{what} changed while it was read; it is not read")
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise FileRefused(f"{what} is larger than {_size(limit)}", "too_large")
        return b"".join(chunks)
    except OSError as err:
        raise FileRefused(f"cannot read {what}: {err.strerror or err}", "missing") from None
    finally:
        os.close(fd)


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n} bytes"
