"""Test support: a real `kill -9` at an exact point in a subprocess, for the crash-safety tests.

FAULT_KILL_AT=``module:Qualified.name:N`` wraps that function so the process sends itself SIGKILL
on entering its Nth call; with ``:after`` it dies as the Nth call returns. Nothing runs after the
signal (no finally blocks, no atexit), exactly as when the machine loses power mid-write, except
that the disk keeps what the OS already has.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
from typing import Any


def install(spec: str) -> None:
    module_name, qualname, nth, *when = spec.split(":")
    after = when == ["after"]
    owner: Any = importlib.import_module(module_name)
    *parents, name = qualname.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    original = getattr(owner, name)
    calls = 0

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == int(nth) and not after:
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if calls == int(nth) and after:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, wrapper)
