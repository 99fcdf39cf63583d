"""Worker processes: results and errors come back, kernels and BLAS threads as promised, progress forwarded."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from derive.errors import DeriveError
from derive.runtime import tuning, workers


def blas_state() -> dict:
    """What a task sees of its process: BLAS kernels and threads, and whether it is a worker."""
    from threadpoolctl import threadpool_info

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return {"kernels": tuning.kernel_architecture(), "threads": [i["num_threads"] for i in blas], "pid": os.getpid()}


def fail(*problems: str):
    """A task that rejects its input."""
    raise DeriveError(*problems)


def crash():
    """A task with a bug."""
    raise ZeroDivisionError("boom")


def report(label: str, steps: int) -> int:
    """A task that reports its progress step by step."""
    factory = workers.progress()
    with factory(label, steps) as bar:
        for _ in range(steps):
            bar.update(1)
    return steps


@pytest.fixture(scope="module")
def pool():
    with workers.Pool(2) as p:
        yield p


def test_tasks_run_in_other_processes_with_the_callers_kernels_and_one_blas_thread(pool):
    states = [f.result() for f in [pool.submit(blas_state) for _ in range(4)]]
    assert all(s["pid"] != os.getpid() for s in states)
    assert {s["kernels"] for s in states} == {tuning.kernel_architecture()}
    assert all(s["threads"] and set(s["threads"]) == {1} for s in states)


def test_a_rejected_input_keeps_every_problem_and_a_bug_keeps_its_type(pool):
    with pytest.raises(DeriveError) as caught:
        pool.submit(fail, "first problem", "second problem").result()
    assert caught.value.problems == ("first problem", "second problem")
    with pytest.raises(ZeroDivisionError, match="boom"):
        pool.submit(crash).result()
    assert pool.submit(sum, [1, 2, 3]).result() == 6  # the pool still works after both


def test_no_progress_factory_means_no_progress_in_the_task(pool):
    assert pool.submit(workers.progress).result() is None


def test_progress_reaches_the_callers_factory():
    events = []

    class Bar:
        def __init__(self, label, total):
            self.label = label
            events.append(("open", label, total))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            events.append(("close", self.label))

        def update(self, n):
            events.append(("update", self.label, n))

    with workers.Pool(1, progress=Bar) as p:
        assert p.submit(report, "training", 3).result() == 3
    assert events == [("open", "training", 3)] + [("update", "training", 1)] * 3 + [("close", "training")]


def test_the_environment_is_restored_after_the_pool(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "SomethingElse")
    with workers.Pool(1):
        assert os.environ["OPENBLAS_CORETYPE"] == tuning.kernel_architecture()
    assert os.environ["OPENBLAS_CORETYPE"] == "SomethingElse"


def test_a_failing_caller_stops_the_workers(tmp_path):
    started = tmp_path / "started"
    with pytest.raises(RuntimeError, match="caller failed"), workers.Pool(1) as p:
        future = p.submit(sleep_after_touching, str(started), 120)
        while not started.exists():
            time.sleep(0.05)
        raise RuntimeError("caller failed")
    # stopped, not waited for: the running task did not get to finish
    assert future.done() and (future.cancelled() or future.exception() is not None)


def sleep_after_touching(path: str, seconds: float) -> None:
    """A long task that says when it has started."""
    Path(path).touch()
    time.sleep(seconds)


KILLED_PARENT = """
import sys, time
from derive.runtime import workers
if __name__ == "__main__":
    with workers.Pool(2) as pool:
        futures = [pool.submit(time.sleep, 600) for _ in range(2)]
        print("running", flush=True)
        time.sleep(600)
"""


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find the workers")
def test_workers_die_with_a_parent_killed_outright(tmp_path):
    import signal
    import subprocess
    import sys

    from processes import carriers, kill_all, token_env, wait_for

    script = tmp_path / "parent.py"
    script.write_text(KILLED_PARENT)
    token, env = token_env()
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "running\n"
        assert wait_for(lambda: len(carriers(token)) >= 3, 60)
        proc.send_signal(signal.SIGKILL)  # no clean-up at all in the parent
        proc.wait(10)
        assert wait_for(lambda: not carriers(token), 10), "workers outlived their parent"
        assert proc.stdout.read() == ""  # and nobody holds the pipe open: EOF comes
    finally:
        proc.kill()
        kill_all(token)
