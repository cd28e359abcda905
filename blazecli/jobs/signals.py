"""Ctrl-C, SIGTERM and SIGHUP held back while a job stops its threads, then delivered.

On CPython before 3.13, a ``Thread.join`` that a signal interrupts marks the thread as ended
while it still runs (python/cpython#90882). A job stopped by a second Ctrl-C then closed its
decoder, or let the process exit, under a thread still reading it: a crash. So the joins and
closes that end a job run with the signals held, and the first one held is raised after them.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from contextlib import contextmanager
from types import FrameType
from typing import TypeVar

T = TypeVar("T")

WAIT_SLICE_S = 0.1
"""Waits in the main thread are cut into slices this long, each with the stop signals held:
Ctrl-C is still answered within it."""

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


def result_of(future: Future[T], timeout: float | None = None) -> T:
    """``future.result(timeout)``, waited for in slices with the stop signals held, as
    :func:`next_in` waits."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = WAIT_SLICE_S if deadline is None else min(WAIT_SLICE_S, max(0.0, deadline - time.monotonic()))
        failure: BaseException | None = None
        with signals_held():
            try:
                return future.result(left)
            except FutureTimeoutError:  # the builtin TimeoutError from Python 3.11 on
                pass
            except BaseException as exc:  # a stop signal held meanwhile goes first: it may be
                failure = exc  # the cause (SIGTERM to the process group ends the workers too)
        if failure is not None:
            raise failure
        if deadline is not None and time.monotonic() >= deadline:
            raise FutureTimeoutError


def next_in(items: queue.Queue[T]) -> T:
    """The queue's next item, within :data:`WAIT_SLICE_S` (``queue.Empty`` after it), waited
    for with the stop signals held.

    A Ctrl-C that lands inside a lock's wait, then another while the wait takes the lock back,
    leaves the lock broken: a traceback (``release unlocked lock``), or a thread that waits on
    it for ever and a process that never exits. Held, a signal is raised once the wait is over."""
    with signals_held():
        try:
            return items.get(timeout=WAIT_SLICE_S)
        except queue.Empty:
            pass
    raise queue.Empty
