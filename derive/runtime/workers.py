"""Worker processes for the long computations (experiments, certificates): clean, alike, and faster.

Each worker is a fresh interpreter (multiprocessing's "spawn" start) that runs OpenBLAS with the
kernels of the calling process (the kernels change the last bits of a product, so a result must not
depend on which process computed it), uses its share of the cores (two workers on two cores run
their networks' branches one after the other rather than in two threads each, with the same
results), keeps freed memory for reuse (:mod:`derive.tuning`; the
embeddings of a chunk of 256 images take three times longer when their fresh arrays are
page-faulted in) and runs every task with one BLAS thread. A
task's result therefore never depends on which worker ran it or on what that worker ran before.
The calling script must guard its own work with ``if __name__ == "__main__":``, as every spawning
program must.

Progress reported inside a task (``progress()(label, total)``, a context with ``.update(n)``) is
forwarded to the factory given to :class:`Pool`, called in one thread of the calling process.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor

from derive.errors import DeriveError
from derive.runtime import tuning

_STOP = None
PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
_forward = None  # in a worker: the queue progress events go to
_counter = itertools.count()


def default_count() -> int:
    """How many workers to start: one per core the process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class Pool:
    """A pool of clean worker processes (a context manager); ``submit`` returns a Future.

    A DeriveError raised by a task reaches the caller as the same DeriveError, with its problems.
    """

    def __init__(self, workers: int | None = None, progress=None):
        self.workers = workers or default_count()
        self.progress = progress
        self.kernels = tuning.kernel_architecture()
        self._context = multiprocessing.get_context("spawn")
        self._queue = self._context.SimpleQueue() if progress is not None else None
        self._executor = self._pump = None
        self._saved = None

    def __enter__(self) -> Pool:
        # OpenBLAS reads OPENBLAS_CORETYPE when it loads, before any code of ours runs in the worker:
        # the variable is set to this process's kernels while the workers start, and restored on exit.
        self._saved = os.environ.get("OPENBLAS_CORETYPE")
        if self.kernels != "unknown":
            os.environ["OPENBLAS_CORETYPE"] = self.kernels
        share = max(1, tuning.cores() // self.workers)  # two workers on two cores: one core each
        self._executor = ProcessPoolExecutor(self.workers, mp_context=self._context, initializer=_start,
                                             initargs=(self._queue, os.getpid(), share))
        if self._queue is not None:
            self._pump = threading.Thread(target=_pump, args=(self._queue, self.progress), daemon=True)
            self._pump.start()
        return self

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if kind is not None:  # the caller failed: what the workers are still computing is not wanted
                self._stop_workers()
            self._executor.shutdown(wait=True, cancel_futures=kind is not None)
        finally:
            if self._pump is not None:
                self._queue.put(_STOP)
                self._pump.join()
            if self._saved is None:
                os.environ.pop("OPENBLAS_CORETYPE", None)
            else:
                os.environ["OPENBLAS_CORETYPE"] = self._saved

    def _stop_workers(self) -> None:
        terminate = getattr(self._executor, "terminate_workers", None)  # Python 3.14
        if terminate is not None:
            terminate()
            return
        for process in list((getattr(self._executor, "_processes", None) or {}).values()):
            process.terminate()

    def submit(self, fn, *args, **kwargs) -> Future:
        """Run ``fn(*args, **kwargs)`` in a worker (fn must be importable by name, a module-level function)."""
        outer = Future()
        inner = self._executor.submit(_call, self.kernels, fn, args, kwargs)
        inner.add_done_callback(lambda f: _settle(outer, f))
        return outer


def _settle(outer: Future, inner: Future) -> None:
    if inner.cancelled():
        outer.cancel()
        return
    error = inner.exception()
    if error is not None:
        outer.set_exception(error)
        return
    status, value = inner.result()
    if status == "error":
        outer.set_exception(DeriveError(*value))
    else:
        outer.set_result(value)


def _start(queue, parent: int, share: int) -> None:
    """Worker set-up, before the first task: tied to the caller's life, freed memory kept, its share of the cores,
    progress routed."""
    global _forward
    _die_with(parent)
    _quiet_stdout()
    tuning.keep_freed_memory()
    tuning.share_cores(share)
    _forward = queue


def _die_with(parent: int) -> None:
    """End this worker when the process that started it ends, however it ends (even by SIGKILL).

    Linux delivers a signal at the parent's death (prctl PR_SET_PDEATHSIG); elsewhere a thread
    watches the parent's pid. Either way, a worker never outlives its caller, computing for nobody.
    """
    if _death_signal():
        if os.getppid() != parent:  # the caller died before the signal was asked for
            os._exit(1)
        return

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _death_signal() -> bool:
    """Ask Linux for SIGTERM when the parent dies; False where that cannot be asked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _quiet_stdout() -> None:
    """A worker writes nothing on the caller's standard output (its results come back through a pipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


def _call(expected: str, fn, args, kwargs):
    """Run one task with one BLAS thread; DeriveError comes back as its problems (pickling keeps them apart)."""
    actual = tuning.kernel_architecture()
    if actual.lower() != expected.lower():
        raise RuntimeError(f"a worker runs the {actual} BLAS kernels, the calling process {expected}: "
                           f"its results could differ in the last bits")
    try:
        with tuning.blas_threads(1):
            return "ok", fn(*args, **kwargs)
    except DeriveError as exc:
        return "error", exc.problems


def progress():
    """In a worker task: a progress factory that reports to the caller's, or None when nobody listens."""
    if _forward is None:
        return None
    return _remote_bar


@contextlib.contextmanager
def _remote_bar(label: str, total: int):
    ident = f"{os.getpid()}-{next(_counter)}"
    _forward.put(("open", ident, label, total))
    try:
        yield _Remote(ident)
    finally:
        _forward.put(("close", ident))


class _Remote:
    def __init__(self, ident: str):
        self.ident = ident

    def update(self, n: int = 1) -> None:
        """Report n more units done."""
        _forward.put(("update", self.ident, n))


def _pump(queue, factory) -> None:
    """Drive the caller's progress contexts from the workers' events until the pool stops."""
    open_bars = {}
    while True:
        event = queue.get()
        if event is _STOP:
            break
        kind, ident = event[0], event[1]
        try:
            if kind == "open":
                context = factory(event[2], event[3])
                open_bars[ident] = (context, context.__enter__())
            elif kind == "update" and ident in open_bars:
                open_bars[ident][1].update(event[2])
            elif kind == "close" and ident in open_bars:
                open_bars.pop(ident)[0].__exit__(None, None, None)
        except Exception:  # a display that fails must not stop the computation it reports on
            open_bars.pop(ident, None)
    for context, _ in open_bars.values():
        context.__exit__(None, None, None)
