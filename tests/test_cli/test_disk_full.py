"""A full disk met anywhere under a command is one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import errno

import typer
from typer.testing import CliRunner

from recbench.cli.common import user_errors


def _app(exc: BaseException) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @user_errors
    def write() -> None:
        raise exc

    return app


def test_enospc_from_a_library_is_one_line():
    result = CliRunner().invoke(_app(OSError(errno.ENOSPC, "No space left on device", "/data/x.bin")), [])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["error: disk full while writing /data/x.bin; nothing saved before is lost"]
    assert "Traceback" not in result.output


def test_other_os_errors_are_not_disguised():
    result = CliRunner().invoke(_app(OSError(errno.EACCES, "Permission denied")), [])
    assert result.exit_code == 1 and isinstance(result.exception, PermissionError)
