"""What a job reports while it works (the CLI draws it with Rich); light, so that a job that
needs no row writer (``annotate``) loads no pyarrow."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """What the runner reports while it works (the CLI draws it with Rich)."""

    def start_file(self, name: str, frames: int | None) -> None: ...
    def advance(self, frames: int) -> None: ...
    def end_file(self) -> None: ...


class SilentProgress:
    """Progress for library callers that want none."""

    def start_file(self, name: str, frames: int | None) -> None:
        pass

    def advance(self, frames: int) -> None:
        pass

    def end_file(self) -> None:
        pass
