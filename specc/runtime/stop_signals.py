"""Stopping a run cleanly on Ctrl-C (SIGINT) or SIGTERM (a container stop, a preemption).

The first signal asks the training loop to stop after the current iteration, so that a checkpoint is
written; a second one aborts at once (`KeyboardInterrupt`, nothing saved). The process then exits
with the code shells report for the signal, 128 + its number.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

EXIT_CODES: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal's number


class StopRequest:
    """Catches SIGINT and SIGTERM while active (a context manager); the handlers before it come back
    on exit. `on_first` is told about the first signal (the run says it will finish the iteration)."""

    def __init__(self, on_first: Callable[[int], None] | None = None) -> None:
        self.signal: int | None = None
        self._on_first = on_first
        self._previous: dict[int, Any] = {}  # signal.signal's handlers: a callable, SIG_DFL or SIG_IGN

    @property
    def requested(self) -> bool:
        """Whether a stop was asked for: the training loop's `should_stop`."""
        return self.signal is not None

    @property
    def exit_code(self) -> int | None:
        """The process's exit code for the signal that stopped the run; None when none came."""
        return EXIT_CODES[self.signal] if self.signal is not None else None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum
        if self._on_first is not None:
            self._on_first(signum)

    def __enter__(self) -> StopRequest:
        self._previous = {sig: signal.signal(sig, self._handle) for sig in EXIT_CODES}
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def signal_name(signum: int) -> str:
    """How a person names the signal: Ctrl-C for SIGINT, else its name (SIGTERM)."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
