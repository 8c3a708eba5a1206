"""The one exception hierarchy. Messages are written for the user: what happened and what to do."""

from __future__ import annotations


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


class RunLogError(ScribeError):
    """The run log database could not be opened or written."""


class NotesIndexError(ScribeError):
    """The notes index could not be read or written."""
