"""A time limit stops what runs too long, lets the rest through, and nests."""

import threading
import time

from derive.grade import timebox


def spin(seconds):
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        pass
    return "done"


def test_a_short_computation_returns_its_value():
    assert timebox.within(1.0, spin, 0.01) == "done"


def test_a_long_computation_is_stopped_in_time():
    start = time.monotonic()
    assert timebox.within(0.1, spin, 10) is timebox.EXPIRED
    assert time.monotonic() - start < 1.0


def test_an_inner_limit_expires_alone_and_an_outer_one_reaches_its_caller():
    def inner_then_outer():
        first = timebox.within(0.05, spin, 10)   # the inner limit ends first: only it expires
        assert first is timebox.EXPIRED
        timebox.within(10, spin, 10)             # the outer limit ends first: the outer caller is told
        return "not reached"

    start = time.monotonic()
    assert timebox.within(0.3, inner_then_outer) is timebox.EXPIRED
    assert time.monotonic() - start < 1.5


def test_no_timer_is_left_running():
    timebox.within(0.05, spin, 0.01)
    spin(0.1)  # a timer left armed would interrupt this


def test_outside_the_main_thread_the_computation_runs_without_limit():
    out = []
    thread = threading.Thread(target=lambda: out.append(timebox.within(0.01, spin, 0.05)))
    thread.start()
    thread.join()
    assert out == ["done"]
