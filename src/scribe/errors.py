"""The one exception hierarchy. Messages are written for the user: what happened and what to do.

The CLI prints any of them in one line and exits non-zero; catch a subclass only where the caller
can do something about that case (a batch retries another host on `HostUnreachable`).

    ScribeError
    ├── ConfigError          scribe.toml or an environment variable holds an unusable value
    ├── HostUnreachable      the model server did not answer
    ├── ModelNotFound        the server does not have the model asked for
    ├── ModelRequestError    the server refused a request
    ├── StreamBroken         a generation stream ended early (the partial text is kept)
    ├── PromptError          a prompt template is missing, malformed or short of a variable
    ├── RunLogError          the run log could not be opened or written
    ├── NotesIndexError      the notes index could not be read or written
    ├── StaleHunks           suggested edits no longer fit the draft (nothing was applied)
    └── WriteError           a file could not be written (nothing was changed)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scribe.edits import Hunk


class ScribeError(Exception):
    """Base for every error scribe reports to the user in one line."""


class ConfigError(ScribeError):
    """scribe.toml or an environment variable holds a value scribe cannot use."""


class HostUnreachable(ScribeError):
    """The model server did not answer."""


class ModelNotFound(ScribeError):
    """The model server answered but does not have the model asked for."""


class ModelRequestError(ScribeError):
    """The model server refused a request (bad options, bad format, server error)."""


class StreamBroken(ScribeError):
    """A generation stream ended before its final chunk; the partial text is kept."""

    def __init__(self, message: str, partial_text: str) -> None:
        super().__init__(message)
        self.partial_text = partial_text


class PromptError(ScribeError):
    """A template is missing, malformed, or was rendered without a variable it needs."""


class RunLogError(ScribeError):
    """The run log database could not be opened or written."""


class NotesIndexError(ScribeError):
    """The notes index could not be read or written."""


class WriteError(ScribeError):
    """A file could not be written; nothing was changed."""


class StaleHunks(ScribeError):
    """Accepted hunks that no longer fit the draft; nothing was applied."""

    def __init__(self, message: str, hunks: Sequence[Hunk]) -> None:
        super().__init__(message)
        self.hunks = list(hunks)
