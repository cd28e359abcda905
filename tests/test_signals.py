"""Signals held while a job stops its threads: nothing is lost, nothing is cut short."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from blazecli.jobs.signals import STOP_SIGNALS, next_in, result_of, signals_held

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo.mp4"


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


def _press_ctrl_c(times: int, after_s: float) -> threading.Thread:
    def press() -> None:
        time.sleep(after_s)
        for _ in range(times):
            os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press)
    presser.start()
    return presser


@pytest.mark.parametrize("times", [1, 2])
def test_ctrl_c_during_a_queue_wait_is_raised_once_and_leaves_the_queue_whole(times: int) -> None:
    """Twice inside a queue's wait, Ctrl-C broke its lock (``release unlocked lock``); a wait
    that ends empty must not drop the signal either."""
    import queue

    items: queue.Queue[int] = queue.Queue()
    presser = _press_ctrl_c(times, 0.03)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        while True:
            try:
                next_in(items)
            except queue.Empty:
                continue
    presser.join()
    assert time.monotonic() - started < 1.0
    items.put(7)
    assert next_in(items) == 7  # its lock still works


def test_ctrl_c_during_a_future_wait_is_raised_and_a_deadline_still_holds() -> None:
    from concurrent.futures import Future
    from concurrent.futures import TimeoutError as FutureTimeoutError

    waiting: Future[int] = Future()
    presser = _press_ctrl_c(2, 0.03)
    with pytest.raises(KeyboardInterrupt):
        result_of(waiting)
    presser.join()
    started = time.monotonic()
    with pytest.raises(FutureTimeoutError):
        result_of(waiting, 0.25)
    assert 0.2 < time.monotonic() - started < 1.0
    waiting.set_result(3)
    assert result_of(waiting) == 3


def test_a_stop_signal_held_while_the_awaited_work_fails_goes_first() -> None:
    """SIGTERM to the process group ends the workers too: the parent's wait then failed with a
    broken pool, dropped the signal it held, and blamed the memory (exit 1)."""
    from concurrent.futures import Future

    failing: Future[int] = Future()

    def press_then_fail() -> None:
        time.sleep(0.03)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        failing.set_exception(RuntimeError("a worker died"))

    presser = threading.Thread(target=press_then_fail)
    presser.start()
    with pytest.raises(KeyboardInterrupt):
        result_of(failing)
    presser.join()


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


def _load_failed_by_a_signal(number: int | None) -> None:
    """What pybind11 raises when a signal lands while its module initializes: ImportError,
    caused by the exception the signal's handler raised."""
    try:
        if number is None:
            raise ValueError("not a signal")
        os.kill(os.getpid(), number)
        time.sleep(5)  # the handler raises here
    except (KeyboardInterrupt, ValueError) as exc:
        raise ImportError("initialization failed") from exc


@pytest.mark.parametrize(("number", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (None, None)])
def test_a_signal_during_a_module_load_stops_the_command_as_the_signal(number: int | None, code: int | None,
                                                                        capsys: pytest.CaptureFixture) -> None:
    """Ctrl-C in the first second, while ONNX Runtime loads, came out as a traceback of
    "ImportError: initialization failed" and exit 1."""
    import typer

    from blazecli.cli.errors import user_errors

    handlers = {kind: signal.getsignal(kind) for kind in STOP_SIGNALS}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if code is None:
            with pytest.raises(ImportError), user_errors():
                _load_failed_by_a_signal(number)
            return
        with pytest.raises(typer.Exit) as exited, user_errors():
            _load_failed_by_a_signal(number)
        assert exited.value.exit_code == code
    finally:
        for kind, handler in handlers.items():
            signal.signal(kind, handler)
    said = capsys.readouterr().err
    assert ("interrupted" if code == 130 else "terminated") in said and "Traceback" not in said


def test_ctrl_c_while_the_command_line_loads_ends_quietly() -> None:
    """Ctrl-C in the first tens of milliseconds, while `blazecli` imported Typer and Rich at
    import time of its entry module, came out as a traceback."""
    script = ("import builtins, sys\n"
              "real_import, pressed = builtins.__import__, []\n"
              "def pressing(name, *args, **kwargs):\n"
              "    if name == 'typer' and not pressed:\n"
              "        pressed.append(name)\n"
              "        raise KeyboardInterrupt\n"
              "    return real_import(name, *args, **kwargs)\n"
              "builtins.__import__ = pressing\n"
              "from blazecli.__main__ import main\n"
              "sys.argv = ['blazecli', '--help']\n"
              "main()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 130 and done.stderr == "interrupted\n" and done.stdout == ""


def _detect_signalled_at_start(number: int, out: Path, ignored: int | None = None) -> subprocess.CompletedProcess:
    """`blazecli detect` on the demo, sent signal ``number`` while the command still loads its
    libraries; ``ignored``: a signal the process starts out ignoring (as under nohup)."""
    script = ("import os, signal, sys\n"
              + (f"signal.signal({int(ignored)}, signal.SIG_IGN)\n" if ignored is not None else "")
              + "import blazecli.cli.detect as command\n"
              f"command.freeze_imports = lambda: os.kill(os.getpid(), {int(number)})\n"
              "from blazecli.cli import main\n"
              "sys.argv = ['blazecli', 'detect', sys.argv[1], '-o', sys.argv[2], '-q']\n"
              "main()\n")
    return subprocess.run([sys.executable, "-c", script, str(DEMO), str(out)],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("number", "code", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                      (signal.SIGTERM, 143, "terminated"),
                                                      (signal.SIGHUP, 129, "hung up")])
def test_a_signal_before_the_command_handles_errors_is_still_reported(number: int, code: int,
                                                                        word: str) -> None:
    """Ctrl-C 80-340 ms into `blazecli detect`, while the command still loaded its libraries,
    ended in silence (Typer's exit 130) or killed the process; SIGTERM then killed it."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "faces.csv"
        done = _detect_signalled_at_start(number, out)
        assert not out.exists()
    assert done.returncode == code, done.stderr
    assert f"{word}: no output file was written" in done.stderr and "Traceback" not in done.stderr


def test_a_run_under_nohup_goes_on_when_the_terminal_closes() -> None:
    """`nohup blazecli ...` starts with SIGHUP ignored: the run must keep ignoring it."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "faces.csv"
        done = _detect_signalled_at_start(signal.SIGHUP, out, ignored=signal.SIGHUP)
        assert done.returncode == 0, done.stderr
        assert len(out.read_text().splitlines()) == 201  # the header and the demo's 200 faces
