"""Test helper: the processes of a run, found by a token in their environment (workers inherit it)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

HAS_PROC = Path("/proc/self/environ").exists()


def token_env() -> tuple[str, dict]:
    """A fresh token and a copy of the environment carrying it."""
    token = uuid.uuid4().hex
    return token, dict(os.environ, DERIVE_TEST_TOKEN=token)


def carriers(token: str) -> list[int]:
    """The pids of the live processes whose environment holds the token."""
    mark = f"DERIVE_TEST_TOKEN={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark in (entry / "environ").read_bytes().split(b"\0") and _alive(entry):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def kill_all(token: str) -> None:
    """End what a failed test left running: the processes carrying its token (its own children)."""
    for pid in carriers(token):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _alive(entry: Path) -> bool:
    """Not a zombie (a dead process its parent has not reaped yet)."""
    stat = (entry / "stat").read_text()
    return stat[stat.rindex(")") + 2] != "Z"


def wait_for(predicate, timeout: float, step: float = 0.1) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds have passed; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
