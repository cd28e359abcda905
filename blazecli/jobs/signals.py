"""Ctrl-C, SIGTERM and SIGHUP held back while a job stops its threads, then delivered.

On CPython before 3.13, a ``Thread.join`` that a signal interrupts marks the thread as ended
while it still runs (python/cpython#90882). A job stopped by a second Ctrl-C then closed its
decoder, or let the process exit, under a thread still reading it: a crash. So the joins and
closes that end a job run with the signals held, and the first one held is raised after them.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
"""Ctrl-C, ``kill`` and a closed terminal (an ssh session that drops): the signals that stop a
run, which it then reports."""


@contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """Run the block with the :data:`STOP_SIGNALS` blocked, then as before: processes started
    in it inherit the mask, so none reaches them while they start up (one that came meanwhile
    reaches this process after)."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


@contextmanager
def signals_held(deliver: bool = True) -> Iterator[None]:
    """Run the block with the :data:`STOP_SIGNALS` held; the first that came is then handed to the
    handler it was meant for (Ctrl-C raises ``KeyboardInterrupt`` there).

    ``deliver=False`` drops them instead, for the end of a run a signal already stops (a
    recording being finished): pressing Ctrl-C again must not undo what it keeps. Off the
    main thread, where Python runs no signal handler, it does nothing. A signal held while the
    block raises is dropped: an exception already ends the job.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[tuple[signal.Signals, FrameType | None]] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append((signal.Signals(signum), frame))

    # A handler set outside Python (None) could not be put back: such a signal is not held.
    handlers = {number: signal.signal(number, hold) for number in STOP_SIGNALS
                if signal.getsignal(number) is not None}
    try:
        yield
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    if held and deliver:
        signum, frame = held[0]
        handler = handlers[signum]
        if callable(handler):
            handler(signum, frame)
        elif handler == signal.SIG_DFL:
            signal.raise_signal(signum)
