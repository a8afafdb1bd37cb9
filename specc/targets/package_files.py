"""Reading what a generated package copies, and writing the package, as untrusted work.

The Isaac Gym package copies the robot's collision meshes. A spec arrives in a pull request, so a
mesh path may be absolute, climb out with `..`, be a symbolic link to `/proc/self/environ` or a
private key, or name a FIFO or `/dev/zero`. `mesh_roots` names the folders a mesh may come from
(the spec's folder, the URDF's folder and, for a `package://` URDF, its package), and `read_mesh`
reads one through the compiler's guarded reader (`specc.untrusted_files`: regular files only,
inside those folders also after resolving links, size checked before reading), so only bytes it
accepted are ever written.

`write_package` writes a whole folder or nothing: every file goes into a fresh temporary folder
beside the target (created exclusively, files opened with O_EXCL | O_NOFOLLOW relative to folder
descriptors, so no planted link is followed), fsynced, then renamed into place; a package already
there is replaced only once the new one is complete. Writers of one output folder take turns (an
flock on it), so the temporaries a killed writer left are removed by the next one. A symbolic link where the output folder or the
package should be is refused. On any error (a full disk included) the temporary folder is removed
and the previous package, if any, is left as it was.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from pathlib import Path

from specc.robot.resolve import package_search_dirs
from specc.task import CheckedTask
from specc.untrusted_files import FileRefused, is_inside, read_limited

MAX_MESH_BYTES = 64 << 20  # one collision mesh
MAX_MESHES_BYTES = 512 << 20  # all of a robot's meshes together
LOCK_ATTEMPTS, LOCK_WAIT_S = 100, 0.1  # another writer of the same folder: wait up to 10 s


class PackageWriteError(OSError):
    """The package cannot be written; the message names the path and the reason (no file content)."""


def mesh_roots(task: CheckedTask) -> list[Path]:
    """The folders the robot's meshes may come from: the spec's and the URDF's, and the package of a
    `package://` URDF."""
    roots = [task.path.parent, task.robot.urdf.path.parent]
    uri = task.spec.robot.urdf
    if uri.startswith("package://"):
        package = uri[len("package://") :].split("/", 1)[0]
        for base in package_search_dirs():
            if is_inside(os.path.abspath(task.robot.urdf.path), os.path.abspath(base / package)):
                roots.append(base / package)
                break
    return roots


def mesh_root(path: Path, roots: list[Path]) -> Path | None:
    """The root that holds `path` both as written and after resolving links; None when none does (an
    absolute path elsewhere, `..` out of them, or a link leading out)."""
    lexical = os.path.normpath(os.path.abspath(path))
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError):
        return None
    for root in roots:
        if is_inside(lexical, os.path.normpath(os.path.abspath(root))) and is_inside(
            real, os.path.realpath(root)
        ):
            return root
    return None


def check_mesh(path: Path, roots: list[Path]) -> str | None:
    """Why the mesh at `path` will not be copied, or None when it may be (nothing is read)."""
    from specc.untrusted_files import check_regular

    root = mesh_root(path, roots)
    if root is None:
        return "lies outside the spec's folder, the URDF's folder and its package"
    try:
        info = check_regular(path, "the mesh", root)
    except FileRefused as err:
        return err.message
    if info.st_size > MAX_MESH_BYTES:
        return f"is larger than {MAX_MESH_BYTES >> 20} MiB"
    return None


def read_mesh(path: Path, roots: list[Path]) -> bytes:
    """The bytes of the mesh at `path`, read through the guarded reader; PackageWriteError otherwise."""
    root = mesh_root(path, roots)
    if root is None:
        raise PackageWriteError(
            f"mesh {path.name} lies outside the spec's folder, the URDF's folder and its package"
        )
    try:
        return read_limited(path, MAX_MESH_BYTES, f"mesh {path.name}", root)
    except FileRefused as err:
        raise PackageWriteError(err.message) from None


def write_package(parent: Path, name: str, files: dict[str, bytes]) -> Path:
    """Write `files` (relative path -> bytes) as the folder `parent/name`, whole or not at all."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        folder = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        if os.path.islink(parent):  # O_NOFOLLOW refused it (ELOOP, or ENOTDIR with O_DIRECTORY)
            raise PackageWriteError(
                f"{parent} is a symbolic link; the package is not written through it"
            ) from None
        raise _failed(parent, err) from None
    temporary = f".{name}.tmp{os.getpid()}"
    previous = f".{name}.old{os.getpid()}"
    try:
        _lock(folder, parent)
        existing = _lstat(name, folder)
        if existing is not None and not stat.S_ISDIR(existing.st_mode):
            what = "a symbolic link" if stat.S_ISLNK(existing.st_mode) else "not a folder"
            raise PackageWriteError(f"{parent / name} is {what}; it is not replaced")
        _remove_stale(name, folder)
        os.mkdir(temporary, 0o755, dir_fd=folder)
        try:
            _write_tree(folder, temporary, files)
            if existing is not None:
                os.rename(name, previous, src_dir_fd=folder, dst_dir_fd=folder)
            os.rename(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
            os.fsync(folder)
        except BaseException:
            _remove_tree(temporary, folder)
            if existing is not None and _lstat(name, folder) is None and _lstat(previous, folder) is not None:
                os.rename(previous, name, src_dir_fd=folder, dst_dir_fd=folder)
            raise
        if existing is not None:
            _remove_tree(previous, folder)
    except PackageWriteError:
        raise
    except OSError as err:
        raise _failed(parent / name, err) from None
    finally:
        os.close(folder)
    return parent / name


def _write_tree(folder: int, top: str, files: dict[str, bytes]) -> None:
    root = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
    opened: dict[tuple[str, ...], int] = {(): root}
    try:
        for relative, data in files.items():
            parts = tuple(relative.split("/"))
            if any(part in ("", ".", "..") for part in parts):
                raise PackageWriteError(f"refusing to write {relative!r}: not a plain relative path")
            directory = _directory(opened, parts[:-1])
            fd = os.open(
                parts[-1],
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o644,
                dir_fd=directory,
            )
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
        for fd in opened.values():
            os.fsync(fd)
    finally:
        for fd in opened.values():
            os.close(fd)


def _directory(opened: dict[tuple[str, ...], int], parts: tuple[str, ...]) -> int:
    """The descriptor of the package's subfolder `parts`, made (exclusively) on first use."""
    for depth in range(1, len(parts) + 1):
        key = parts[:depth]
        if key not in opened:
            parent = opened[parts[: depth - 1]]
            os.mkdir(key[-1], 0o755, dir_fd=parent)
            opened[key] = os.open(
                key[-1], os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent
            )
    return opened[parts]


def _lstat(name: str, folder: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _remove_stale(name: str, folder: int) -> None:
    """Remove what writers of this package killed mid-write left (kill -9, power loss): with the folder's
    lock held, no other writer is at work, so every temporary of this package is stale."""
    for entry in os.listdir(folder):
        if entry.startswith((f".{name}.tmp", f".{name}.old")):
            info = _lstat(entry, folder)
            if info is not None and stat.S_ISDIR(info.st_mode):
                _remove_tree(entry, folder)


def _lock(folder: int, path: Path) -> None:
    """Take the output folder's write lock (an flock on its descriptor), waiting a little for another writer."""
    for _ in range(LOCK_ATTEMPTS):
        try:
            fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            time.sleep(LOCK_WAIT_S)
    raise PackageWriteError(f"another writer holds {path}; try again when it is done")


def _remove_tree(name: str, parent: int) -> None:
    """Delete the folder `name` of the folder `parent` and what it holds, through descriptors only: a link
    inside is unlinked, never followed. Errors are ignored (the caller is cleaning up)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    except OSError:
        return
    try:
        for entry in os.listdir(fd):
            info = _lstat(entry, fd)
            if info is not None and stat.S_ISDIR(info.st_mode):
                _remove_tree(entry, fd)
            else:
                try:
                    os.unlink(entry, dir_fd=fd)
                except OSError:
                    pass
    finally:
        os.close(fd)
    try:
        os.rmdir(name, dir_fd=parent)
    except OSError:
        pass


def _failed(path: Path, err: OSError) -> PackageWriteError:
    reason = "no space left on the device" if err.errno == errno.ENOSPC else (err.strerror or str(err))
    return PackageWriteError(f"cannot write {path}: {reason}")
