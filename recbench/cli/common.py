"""What every command shares: turning user errors into one line and a non-zero exit."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import typer
from rich.console import Console

from recbench.errors import RecbenchError

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", markup=True, emoji=False)
    return typer.Exit(code)


def user_errors(func: Callable) -> Callable:
    """Wrap a command so a RecbenchError (or Ctrl-C) prints one line instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except RecbenchError as exc:
            raise fail(_escape(str(exc)), exc.exit_code) from None
        except KeyboardInterrupt:
            print("interrupted; completed work is cached and a re-run resumes from it", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
