"""`precompile` (specc/runtime/backends/warp_compile.py) on warp's CPU device: it runs a warp program once with
every kernel launch skipped, listing the module variants the program would load, and loads those on a
thread pool, so that the program's first real run compiles nothing. What it must never do: run a kernel
(the program's arrays are live state: the backend's model and data), hang in a graph conditional whose
condition only a skipped kernel would change, or leave warp patched behind it.

Each test defines its own kernels with module="unique": a fresh module object per kernel and per test,
so no test finds another's modules loaded. Warp's disk cache may hold their binaries from an earlier run;
loading one from there still puts it into its module's `execs`, which is what these tests read. Skipped
where warp is not installed, as in CI.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

wp = pytest.importorskip("warp")

from warp._src.context import Module  # noqa: E402

from specc.runtime.backends.warp_compile import precompile  # noqa: E402

CPU = "cpu"
N = 4


def _warp_entry_points() -> tuple[Callable, ...]:
    """What precompile patches while it runs its program, as warp has them now."""
    return Module.load, wp.capture_while, wp.capture_if, wp.get_suggested_block_size


WARP_AS_SHIPPED = _warp_entry_points()


def _values(array) -> list[float]:
    return array.numpy().tolist()


def _loaded(kernel) -> dict:
    """The variants (device context, block size) of `kernel`'s module that warp has loaded."""
    return dict(kernel.module.execs)


def test_precompile_runs_no_kernel_and_counts_each_module_variant_once():
    @wp.kernel(module="unique")
    def precompile_test_fill_seven(out: wp.array(dtype=float)):
        out[wp.tid()] = 7.0

    @wp.kernel(module="unique")
    def precompile_test_double_into(source: wp.array(dtype=float), out: wp.array(dtype=float)):
        i = wp.tid()
        out[i] = 2.0 * source[i] + 1.0

    a = wp.zeros(N, dtype=float, device=CPU)
    b = wp.array(np.full(N, -1.0, dtype=np.float32), device=CPU)

    def program() -> None:
        wp.launch(precompile_test_fill_seven, dim=N, inputs=[a], device=CPU)
        wp.launch(precompile_test_double_into, dim=N, inputs=[a, b], device=CPU)
        wp.launch(precompile_test_fill_seven, dim=N, inputs=[b], device=CPU)  # a variant already listed

    report = precompile(program, workers=2)

    assert _values(a) == [0.0] * N and _values(b) == [-1.0] * N  # no kernel wrote its output
    assert report.modules == 2 and report.workers == 2


def test_after_precompile_the_first_real_run_loads_nothing_and_its_kernels_write():
    @wp.kernel(module="unique")
    def precompile_test_add_three(out: wp.array(dtype=float)):
        out[wp.tid()] = out[wp.tid()] + 3.0

    @wp.kernel(module="unique")
    def precompile_test_square_into(source: wp.array(dtype=float), out: wp.array(dtype=float)):
        i = wp.tid()
        out[i] = source[i] * source[i]

    kernels = (precompile_test_add_three, precompile_test_square_into)
    a = wp.array(np.arange(N, dtype=np.float32), device=CPU)
    b = wp.zeros(N, dtype=float, device=CPU)

    def program() -> None:
        wp.launch(precompile_test_add_three, dim=N, inputs=[a], device=CPU)
        wp.launch(precompile_test_square_into, dim=N, inputs=[a, b], device=CPU)

    assert all(_loaded(kernel) == {} for kernel in kernels)  # nothing loaded before
    precompile(program)
    loaded = [_loaded(kernel) for kernel in kernels]
    assert [len(variants) for variants in loaded] == [1, 1]

    program()

    assert [_loaded(kernel) for kernel in kernels] == loaded  # the same executables: none loaded anew
    assert _values(a) == [3.0, 4.0, 5.0, 6.0]
    assert _values(b) == [9.0, 16.0, 25.0, 36.0]


def test_a_capture_while_body_runs_once_though_its_condition_never_clears():
    """The loop's condition holds 1 and only the body's kernel would set it to 0; under precompile that
    kernel does not run, so a loop that read its condition would never end. The body raises on its fourth
    call, so such a loop fails this test instead of hanging it."""

    @wp.kernel(module="unique")
    def precompile_test_count_down(condition: wp.array(dtype=wp.int32), passes: wp.array(dtype=float)):
        passes[0] = passes[0] + 1.0
        condition[0] = 0

    condition = wp.array([1], dtype=wp.int32, device=CPU)
    passes = wp.zeros(1, dtype=float, device=CPU)
    bodies: list[int] = []

    def body() -> None:
        bodies.append(1)
        if len(bodies) > 3:
            raise RuntimeError("the loop went on: precompile read the condition that no kernel cleared")
        wp.launch(precompile_test_count_down, dim=1, inputs=[condition, passes], device=CPU)

    def program() -> None:
        wp.capture_while(condition, while_body=body)

    report = precompile(program)

    assert len(bodies) == 1 and report.modules == 1  # the body ran once and its kernel was found
    assert len(_loaded(precompile_test_count_down)) == 1
    assert _values(condition) == [1] and _values(passes) == [0.0]
    program()  # for real: warp's own loop again, which the body's kernel ends after one pass
    assert len(bodies) == 2 and _values(condition) == [0] and _values(passes) == [1.0]


def test_a_capture_if_has_the_kernels_of_both_branches_found():
    """The condition selects one branch when the program runs; precompile cannot know which, so it loads
    both."""

    @wp.kernel(module="unique")
    def precompile_test_on_true(out: wp.array(dtype=float)):
        out[0] = 11.0

    @wp.kernel(module="unique")
    def precompile_test_on_false(out: wp.array(dtype=float)):
        out[0] = 13.0

    condition = wp.array([1], dtype=wp.int32, device=CPU)
    out = wp.zeros(1, dtype=float, device=CPU)

    def program() -> None:
        wp.capture_if(
            condition,
            on_true=lambda: wp.launch(precompile_test_on_true, dim=1, inputs=[out], device=CPU),
            on_false=lambda: wp.launch(precompile_test_on_false, dim=1, inputs=[out], device=CPU),
        )

    report = precompile(program)

    assert report.modules == 2 and _values(out) == [0.0]
    assert len(_loaded(precompile_test_on_true)) == 1 and len(_loaded(precompile_test_on_false)) == 1


def test_an_occupancy_query_in_the_program_gets_warp_s_real_module_load(monkeypatch):
    """`wp.get_suggested_block_size` needs the loaded module (on a GPU), so precompile lets it load; the
    launches around it are still skipped. On the CPU warp answers (1, 1) without loading, so a spy in
    its place records which `Module.load` the query would have used."""

    @wp.kernel(module="unique")
    def precompile_test_fill_five(out: wp.array(dtype=float)):
        out[wp.tid()] = 5.0

    real_query = wp.get_suggested_block_size
    load_seen: list[Callable] = []

    def query(kernel, device=None) -> tuple[int, int]:
        load_seen.append(Module.load)
        return real_query(kernel, device)

    monkeypatch.setattr(wp, "get_suggested_block_size", query)
    out = wp.zeros(N, dtype=float, device=CPU)

    def program() -> None:
        block, _ = wp.get_suggested_block_size(precompile_test_fill_five, CPU)
        wp.launch(precompile_test_fill_five, dim=N, inputs=[out], device=CPU, block_dim=block)

    report = precompile(program)

    assert load_seen == [WARP_AS_SHIPPED[0]]
    assert report.modules == 1 and _values(out) == [0.0] * N  # the launch after the query: skipped


def test_a_kernel_that_does_not_compile_fails_precompile_with_warp_s_error():
    """Found while the program runs (its launch is skipped), built on the pool: the build's error is
    precompile's, not a worker thread's to swallow."""

    @wp.kernel(module="unique")
    def precompile_test_does_not_compile(out: wp.array(dtype=float)):
        out[wp.tid()] = wp.length(out)  # no length of an array

    out = wp.zeros(N, dtype=float, device=CPU)

    def program() -> None:
        wp.launch(precompile_test_does_not_compile, dim=N, inputs=[out], device=CPU)

    with pytest.raises(wp.WarpCodegenError, match="precompile_test_does_not_compile"):
        precompile(program)


def test_warp_is_itself_again_after_precompile_also_when_the_program_raises():
    @wp.kernel(module="unique")
    def precompile_test_fill_nine(out: wp.array(dtype=float)):
        out[wp.tid()] = 9.0

    out = wp.zeros(N, dtype=float, device=CPU)
    during: list[tuple[Callable, ...]] = []

    def program() -> None:
        during.append(_warp_entry_points())
        wp.launch(precompile_test_fill_nine, dim=N, inputs=[out], device=CPU)

    def failing_program() -> None:
        program()
        raise ValueError("the program failed")

    precompile(program)
    assert _warp_entry_points() == WARP_AS_SHIPPED
    with pytest.raises(ValueError, match="the program failed"):
        precompile(failing_program)
    assert _warp_entry_points() == WARP_AS_SHIPPED
    # While the programs ran, every entry point was precompile's own.
    assert all(a is not b for entry_points in during for a, b in zip(entry_points, WARP_AS_SHIPPED))
    wp.launch(precompile_test_fill_nine, dim=N, inputs=[out], device=CPU)  # warp launches again
    assert _values(out) == [9.0] * N
