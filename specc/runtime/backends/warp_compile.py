"""Compiling a warp program's kernels on several threads before its first run.

Warp compiles a module at its first launch, one module after the other. MuJoCo Warp builds many of
its kernels specialised to the model, one module per kernel, so the first step of a model whose
kernels are not in warp's cache compiles some forty modules in series, the heightfield colliders
near 30 s each on an H100's host: most of the three minutes before anymal_rough's first iteration
on a fresh machine, which now takes 75-80 s (bench/README.md). `precompile` runs the program once with
every launch skipped, which lists the modules (and block sizes) it would load, then loads them on a
thread pool (warp's compilers release the GIL); the real first step then finds them loaded.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

# More threads than this only queue behind the compilers' memory and the host's cores.
MAX_WORKERS = 16


@dataclass(frozen=True)
class CompileReport:
    """What `precompile` found and loaded."""

    modules: int  # (module, device, block size) variants the program launches
    workers: int
    seconds: float


@contextlib.contextmanager
def _launches_recorded(found: dict[tuple[Any, Any, Any], None]) -> Iterator[None]:
    """Within: no warp kernel runs; each launch records the module variant it would load. A launch
    asks its module to load and is skipped when that returns nothing. Graph conditionals run each
    body once: their conditions are written by kernels that do not run here."""
    import warp as wp
    from warp._src.context import Module

    load = Module.load

    def record(module: Any, device: Any, block_dim: Any = None, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:  # loading a prebuilt binary: not a launch
            return load(module, device, block_dim, *args, **kwargs)
        found.setdefault((module, str(device), block_dim), None)
        return None

    def body_once(condition: Any, while_body: Any, stream: Any = None, **kwargs: Any) -> None:
        if callable(while_body):
            while_body(**kwargs)

    def both_branches(
        condition: Any, on_true: Any = None, on_false: Any = None, stream: Any = None, **kwargs: Any
    ):
        for body in (on_true, on_false):
            if callable(body):
                body(**kwargs)

    suggest = wp.get_suggested_block_size

    def suggest_loaded(*args: Any, **kwargs: Any) -> Any:  # occupancy queries need the real module
        Module.load = load  # type: ignore[method-assign]
        try:
            return suggest(*args, **kwargs)
        finally:
            Module.load = record  # type: ignore[assignment]

    saved = (wp.capture_while, wp.capture_if, suggest)
    wp.get_suggested_block_size = suggest_loaded
    Module.load = record  # type: ignore[assignment]
    wp.capture_while, wp.capture_if = body_once, both_branches
    try:
        yield
    finally:
        Module.load = load  # type: ignore[method-assign]
        wp.capture_while, wp.capture_if, wp.get_suggested_block_size = saved


def precompile(program: Callable[[], None], workers: int | None = None) -> CompileReport:
    """Compile and load every warp module `program` launches, on `workers` threads (default: the
    host's cores, at most MAX_WORKERS), without running any of its kernels. `program` must launch
    the same kernels whatever its arrays hold, as a graph-capturable step does."""
    start = time.perf_counter()
    found: dict[tuple[Any, Any, Any], None] = {}
    with _launches_recorded(found):
        program()
    count = workers or min(os.cpu_count() or 1, MAX_WORKERS)
    with ThreadPoolExecutor(max_workers=max(1, count)) as pool:
        for done in [pool.submit(module.load, device, block_dim) for module, device, block_dim in found]:
            done.result()
    return CompileReport(len(found), count, time.perf_counter() - start)
