"""A time limit around a computation that may not end (SymPy on max and piecewise forms, a huge answer).

``within(seconds, fn, *args)`` runs ``fn`` and returns its value, or :data:`EXPIRED` once ``seconds``
have passed: a SIGALRM timer interrupts the Python code (SymPy is Python all the way down; NumPy's
calls here are short, since the arrays are small). Limits nest: an inner limit never outlives the
outer one, and when the outer one is what ran out, the outer caller is the one told. Where the
timer cannot be used (another thread than the main one, or no SIGALRM), ``fn`` runs without limit.
"""

from __future__ import annotations

import signal
import threading
import time

EXPIRED = object()


class _TimeUp(BaseException):
    """Raised by the timer; a BaseException, so that no ``except Exception`` in a library swallows it."""


_active = []   # deadlines (time.monotonic()) of the limits running, outermost first


def usable() -> bool:
    """Whether limits are enforced here (the main thread of a platform with SIGALRM)."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _ring(signum, frame):
    raise _TimeUp()


def within(seconds: float, fn, *args):
    """``fn(*args)``, or EXPIRED if it runs longer than ``seconds`` (or than an enclosing limit allows)."""
    if not usable():
        return fn(*args)
    now = time.monotonic()
    deadline = now + seconds
    outer = _active[-1] if _active else None
    mine = deadline if outer is None else min(deadline, outer)
    previous = signal.signal(signal.SIGALRM, _ring) if outer is None else None
    _active.append(mine)
    try:
        signal.setitimer(signal.ITIMER_REAL, max(mine - now, 1e-6))
        try:
            return fn(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _TimeUp:
        if outer is not None and outer <= mine:
            raise  # the enclosing limit ran out: its caller must stop too
        return EXPIRED
    finally:
        _active.pop()
        if outer is None:
            signal.signal(signal.SIGALRM, previous)
        else:
            signal.setitimer(signal.ITIMER_REAL, max(outer - time.monotonic(), 1e-6))
