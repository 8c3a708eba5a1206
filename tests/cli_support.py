"""`scribe` run in this process: its real entry point (`scribe.cli.main`, which turns a ScribeError
into one line and exit 1) with stdout and stderr captured, in milliseconds where a subprocess takes
a third of a second. The subprocess runs (`conftest.run_scribe`) stay where the process is the point."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch

from typer.testing import CliRunner

from scribe.cli import main


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def scribe(ws: Path, *args: str, stdin: str | None = None) -> Ran:
    """`scribe --workspace WS ARGS`, with `stdin` as what the author types at its prompts."""
    code = 0
    with CliRunner().isolation(input=stdin) as (out, err, _), patch.object(sys, "argv", ["scribe", "--workspace", str(ws), *args]):
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
        return Ran(code, out.getvalue().decode(), err.getvalue().decode())


def ok(ws: Path, *args: str) -> Ran:
    ran = scribe(ws, *args)
    assert ran.code == 0, ran.stderr
    return ran


def one_line_error(ran: Ran) -> str:
    """The error scribe printed: one line, the last on stderr, with no traceback."""
    errors = [line for line in ran.stderr.splitlines() if line.startswith("error:")]
    assert ran.code == 1 and "Traceback" not in ran.stderr
    assert len(errors) == 1 and ran.stderr.rstrip("\n").endswith(errors[0]), ran.stderr
    return errors[0]
