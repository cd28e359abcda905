"""The Typer application the commands register on, and the stderr console they share."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup


class _Group(TyperGroup):
    """Typer's group, with its choice errors in Typer's own words: Typer (0.29) validates
    choices through Pydantic, whose "Value error, " prefix would leak into the message."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except typer.BadParameter as exc:
            exc.message = exc.message.removeprefix("Value error, ")
            raise


app = typer.Typer(
    name="blazecli",
    cls=_Group,
    help="Find faces in video with MediaPipe's BlazeFace, fast and steadily.\n\n"
         "Example: blazecli detect video.mp4 -o faces.parquet",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # plain Click help: it wraps readably in 80 columns, rich panels did not
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err = Console(stderr=True, highlight=False)


def _print_version(value: bool) -> None:
    """Eager, so that ``blazecli --version`` works without a command."""
    if value:
        from .. import __version__

        typer.echo(__version__)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.",
                                          callback=_print_version, is_eager=True)] = False,
) -> None:
    """Find faces in video with MediaPipe's BlazeFace, fast and steadily."""

