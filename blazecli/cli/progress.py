"""Progress on stderr with Rich: per file and overall, frames, fps, ETA."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .app import err, printable

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class RichProgress:
    """Per-file and overall progress on stderr: frames, fps, ETA.

    Drawn from the first file that starts: an error known before any work (a missing input, a
    bad option) shows alone, without a bar. A run stopped part-way leaves its file's bar where
    it stopped. ``quiet``: nothing is drawn, and Rich is not loaded."""

    def __init__(self, files: int, quiet: bool) -> None:
        self._files = files
        self._quiet = quiet
        self._progress: Progress | None = None  # made as the first file starts
        self._overall: TaskID | None = None
        self._file: TaskID | None = None

    def __enter__(self) -> RichProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def start_file(self, name: str, frames: int | None) -> None:
        if self._quiet:
            return
        if self._progress is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[fps]}"), TimeRemainingColumn(),
                console=err.console, transient=False)
            self._overall = self._progress.add_task("all files", total=self._files, fps="")
            self._progress.__enter__()
        shown = printable(name)
        label = shown if len(shown) <= 40 else "..." + shown[-37:]
        self._file = self._progress.add_task(label, total=frames, fps="")

    def advance(self, frames: int) -> None:
        if self._progress is not None and self._file is not None:
            self._progress.advance(self._file, frames)
            task = self._progress.tasks[self._file]
            if task.speed:
                self._progress.update(self._file, fps=f"{task.speed:,.0f} fps")

    def end_file(self) -> None:
        if self._progress is None or self._overall is None:
            return
        if self._file is not None:
            task = self._progress.tasks[self._file]
            self._progress.update(self._file, total=task.completed)
            self._file = None
        self._progress.advance(self._overall, 1)
