"""Checkpoints: a verified file format, written atomically, read with weights_only=True.

A checkpoint file is

    b"SPECCKPT"  format (u32, big-endian)  header length (u32)  header (JSON)  payload  sha256 (32 bytes)

The header names what the checkpoint was made for (`CheckpointIdentity`: the spec hash, the
observation and action sizes, the network, the env count and backend) and the payload's length;
the payload is `torch.save` of the state; the sha256 covers everything before it. Loading checks,
in order: that the path is a regular file (before opening it: a FIFO would block the read forever),
the magic, the format, the header, the length (a truncated file), the checksum (a damaged file),
the payload (unpickled with weights_only=True: tensors and plain containers only), that its contents
are plausible (an iteration in range, finite weights) and that it fits the task it is loaded into.
Every failure is one `CheckpointError` whose message says what is wrong with which file.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import pickle
import stat
import struct
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

MAGIC = b"SPECCKPT"
FORMAT = 1
_PREFIX = struct.Struct(">8sII")  # magic, format, header length
_DIGEST_BYTES = 32
MAX_HEADER_BYTES = 1 << 20
MAX_ITERATION = 10**9  # far beyond any run; an iteration past it is a damaged or forged file


class CheckpointError(Exception):
    """A checkpoint that cannot be used, with the reason in the user's terms."""


class WriteFailed(OSError):
    """A checkpoint or another run file could not be written; nothing partial was left behind."""


@dataclass(frozen=True)
class CheckpointIdentity:
    """What a checkpoint was made for: a policy only fits a task with the same sizes and network."""

    spec_hash: str | None
    task: str | None
    num_obs: int
    num_actions: int
    actor_hidden_dims: tuple[int, ...]
    critic_hidden_dims: tuple[int, ...]
    num_envs: int | None = None  # the env state's size: resuming needs the same
    backend: str | None = None  # the env state's physics engine: resuming needs the same

    SHAPE_FIELDS = ("num_obs", "num_actions", "actor_hidden_dims", "critic_hidden_dims")

    @classmethod
    def from_header(cls, values: Any) -> CheckpointIdentity:
        names = {f.name for f in fields(cls)}
        if (
            not isinstance(values, dict)
            or not names >= set(values)
            or not set(cls.SHAPE_FIELDS) <= set(values)
        ):
            raise ValueError("the header does not describe the checkpoint")
        kept = dict(values)
        for name in ("actor_hidden_dims", "critic_hidden_dims"):
            dims = kept[name]
            if not isinstance(dims, list) or not all(_is_size(d) for d in dims):
                raise ValueError(f"{name} is not a list of sizes")
            kept[name] = tuple(dims)
        for name in ("num_obs", "num_actions"):
            if not _is_size(kept[name]):
                raise ValueError(f"{name} is not a size")
        if kept.get("num_envs") is not None and not _is_size(kept["num_envs"]):
            raise ValueError("num_envs is not a size")
        for name in ("spec_hash", "task", "backend"):
            if kept.get(name) is not None and not isinstance(kept[name], str):
                raise ValueError(f"{name} is not a string")
        return cls(**kept)

    def to_header(self) -> dict[str, Any]:
        values = asdict(self)
        values["actor_hidden_dims"] = list(self.actor_hidden_dims)
        values["critic_hidden_dims"] = list(self.critic_hidden_dims)
        return values


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 1 << 31


# -- writing ----------------------------------------------------------------------------------------
def write_atomically(path: Path, data: bytes) -> Path:
    """Write `data` to `path` whole or not at all: a temporary file beside it, fsync, rename.

    On any OS error the temporary file is removed and a `WriteFailed` says which file
    could not be written and why (a full disk, a read-only or missing folder).
    """
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:  # an OS error, or a second Ctrl-C mid-write: no partial file stays
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        if not isinstance(err, OSError):
            raise
        reason = "no space left on the device" if err.errno == errno.ENOSPC else (err.strerror or str(err))
        raise WriteFailed(f"cannot write {path}: {reason}") from err
    return path


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files that writers killed mid-write (kill -9, power loss) left in `folder`.

    Only files named like `write_atomically`'s temporaries whose process no longer runs are removed.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for candidate in folder.glob(".*.tmp*"):
        pid = candidate.name.rpartition(".tmp")[2]
        if not pid.isdigit() or not candidate.is_file() or _process_alive(int(pid)):
            continue
        try:
            candidate.unlink()
            removed.append(candidate)
        except OSError:
            pass
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def encode_checkpoint(identity: CheckpointIdentity, state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return frame_payload(identity, buffer.getvalue())


def frame_payload(identity: CheckpointIdentity, payload: bytes) -> bytes:
    """The checkpoint file around serialized state: header, payload, checksum."""
    header = json.dumps(
        {"identity": identity.to_header(), "payload_bytes": len(payload)}, sort_keys=True
    ).encode()
    body = _PREFIX.pack(MAGIC, FORMAT, len(header)) + header + payload
    return body + hashlib.sha256(body).digest()


def save_checkpoint(path: Path, identity: CheckpointIdentity, state: dict[str, Any]) -> Path:
    return write_atomically(path, encode_checkpoint(identity, state))


# -- reading ----------------------------------------------------------------------------------------
@dataclass
class LoadedCheckpoint:
    identity: CheckpointIdentity
    state: dict[str, Any]
    notes: list[str]  # what was accepted but is worth saying (a changed spec)


def load_checkpoint(
    path: Path,
    expected: CheckpointIdentity | None = None,
    *,
    device: str | torch.device = "cpu",
    allow_spec_change: bool = False,
    resume: bool = False,
) -> LoadedCheckpoint:
    """Read, verify and check a checkpoint against the task it is for; `CheckpointError` if it cannot serve.

    `expected`: the identity of the task loading it (None: no check). A different spec hash is refused
    unless `allow_spec_change` (the shapes must still match); `resume` also requires the same env
    count and backend, whose state the checkpoint restores.
    """
    raw = _read_regular_file(path)
    identity, payload = _verify(path, raw)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols are not the user's business
            state = torch.load(io.BytesIO(payload), map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path}: the checkpoint holds objects other than tensors and plain data; refused, since "
            "loading them could run code"
        ) from None
    except Exception as err:  # noqa: BLE001 - the unpickler raises many kinds; all mean one thing
        raise CheckpointError(
            f"{path}: the checkpoint's contents cannot be read ({_first_line(err)})"
        ) from None
    _check_plausible(path, state)
    notes = [] if expected is None else _check_fits(path, identity, expected, allow_spec_change, resume)
    return LoadedCheckpoint(identity, state, notes)


def _read_regular_file(path: Path) -> bytes:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found: {path}") from None
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({err.strerror or err})") from None
    if stat.S_ISDIR(info.st_mode):
        raise CheckpointError(
            f"{path} is a folder, not a checkpoint file (give a checkpoints/model_*.pt in it)"
        )
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{path} is not a regular file (a pipe, socket or device), not a checkpoint")
    if info.st_size == 0:
        raise CheckpointError(f"{path} is empty, not a checkpoint (a write that never finished?)")
    try:
        # O_NONBLOCK: should the path have been swapped for a FIFO since the check, open must not block.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise CheckpointError(f"{path} is not a regular file, not a checkpoint")
            return handle.read()
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({err.strerror or err})") from None


def _verify(path: Path, raw: bytes) -> tuple[CheckpointIdentity, bytes]:
    if len(raw) < _PREFIX.size or raw[: len(MAGIC)] != MAGIC:
        raise CheckpointError(
            f"{path} is not a specc checkpoint (no checkpoint header; checkpoints of specc before "
            f"format {FORMAT} cannot be read either)"
        )
    _, version, header_bytes = _PREFIX.unpack_from(raw)
    if version != FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {version}, this specc reads format {FORMAT}")
    if header_bytes > MAX_HEADER_BYTES or len(raw) < _PREFIX.size + header_bytes + _DIGEST_BYTES:
        raise CheckpointError(f"{path} is truncated or damaged (its header does not fit the file)")
    body, digest = raw[:-_DIGEST_BYTES], raw[-_DIGEST_BYTES:]
    try:
        header = json.loads(raw[_PREFIX.size : _PREFIX.size + header_bytes])
        payload_bytes = header["payload_bytes"]
        identity = CheckpointIdentity.from_header(header["identity"])
        if not isinstance(payload_bytes, int) or isinstance(payload_bytes, bool) or payload_bytes < 0:
            raise ValueError("payload_bytes is not a length")
    except (ValueError, KeyError, TypeError, RecursionError):
        raise CheckpointError(f"{path} is damaged (its header cannot be read)") from None
    expected_size = _PREFIX.size + header_bytes + payload_bytes + _DIGEST_BYTES
    if len(raw) != expected_size:
        state = "truncated" if len(raw) < expected_size else "damaged"
        raise CheckpointError(
            f"{path} is {state}: {len(raw)} bytes where the header promises {expected_size}"
        )
    if hashlib.sha256(body).digest() != digest:
        raise CheckpointError(f"{path} is damaged: its sha256 checksum does not match its contents")
    return identity, body[_PREFIX.size + header_bytes :]


def _check_plausible(path: Path, state: Any) -> None:
    """A checksum proves the file is what was written, not that what was written makes sense."""
    if not isinstance(state, dict) or not {"iteration", "policy"} <= set(state):
        raise CheckpointError(f"{path}: the checkpoint holds no policy and iteration")
    iteration = state["iteration"]
    if isinstance(iteration, torch.Tensor) and iteration.numel() == 1 and not iteration.is_floating_point():
        iteration = int(iteration)
    if not isinstance(iteration, int) or isinstance(iteration, bool) or not 0 <= iteration <= MAX_ITERATION:
        raise CheckpointError(f"{path}: implausible iteration {iteration!r} (expected 0 to {MAX_ITERATION})")
    state["iteration"] = iteration
    for part in ("policy", "normalizer"):
        values = state.get(part, {})
        if not isinstance(values, dict) or not all(isinstance(v, torch.Tensor) for v in values.values()):
            raise CheckpointError(f"{path}: the checkpoint's {part} is not a set of tensors")
        for name, tensor in values.items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise CheckpointError(f"{path}: the {part}'s '{name}' holds NaN or infinite values")


def _check_fits(
    path: Path,
    found: CheckpointIdentity,
    expected: CheckpointIdentity,
    allow_spec_change: bool,
    resume: bool,
) -> list[str]:
    names = list(CheckpointIdentity.SHAPE_FIELDS) + (["num_envs", "backend"] if resume else [])
    differences = [
        f"{name} {getattr(found, name)} in the checkpoint, {getattr(expected, name)} here"
        for name in names
        if getattr(found, name) != getattr(expected, name) and getattr(expected, name) is not None
    ]
    if found.task != expected.task and found.task is not None and expected.task is not None:
        differences.insert(0, f"task '{found.task}' in the checkpoint, '{expected.task}' here")
    spec_changed = found.spec_hash != expected.spec_hash and expected.spec_hash is not None
    if differences:
        hint = " (resuming needs the same --num-envs and --backend)" if resume else ""
        changed = (
            f"; spec hash {found.spec_hash} in the checkpoint, {expected.spec_hash} here"
            if spec_changed
            else ""
        )
        raise CheckpointError(f"{path} was made for another task: {'; '.join(differences)}{changed}{hint}")
    if spec_changed:
        if not allow_spec_change:
            raise CheckpointError(
                f"{path} was made for another version of this spec (spec hash {found.spec_hash} in the "
                f"checkpoint, {expected.spec_hash} here; observation, action and network sizes match): "
                "pass --allow-spec-change to load it anyway"
            )
        return [
            f"{path} was made for spec hash {found.spec_hash}, this spec is {expected.spec_hash}: "
            "loaded anyway (--allow-spec-change; the sizes match)"
        ]
    return []


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
