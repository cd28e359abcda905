"""Signals held while a job stops its threads: nothing is lost, nothing is cut short."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from blazecli.jobs.signals import signals_held


def test_ctrl_c_inside_is_raised_after_the_block() -> None:
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with signals_held():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # pressed twice: raised once
            threading.Event().wait(0.05)  # a wait the signal would have cut short
            finished.append(True)
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_handler_meant_for_the_signal_gets_it_after(monkeypatch: pytest.MonkeyPatch) -> None:
    got: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
    try:
        with signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            assert got == []
        assert got == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_nothing_held_means_nothing_raised_and_handlers_restored() -> None:
    with signals_held():
        pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_signal_held_while_the_block_raises_gives_way_to_that_error() -> None:
    with pytest.raises(ValueError):
        with signals_held():
            os.kill(os.getpid(), signal.SIGINT)
            raise ValueError("cleanup failed")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_off_the_main_thread_it_changes_nothing() -> None:
    seen: list[object] = []

    def run() -> None:
        with signals_held():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]


def test_a_stop_under_way_drops_further_presses() -> None:
    finished = []
    with signals_held(deliver=False):
        os.kill(os.getpid(), signal.SIGINT)
        finished.append(True)
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
