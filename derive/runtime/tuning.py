"""BLAS kernels, BLAS threads and memory: the process-wide settings of the NumPy engine, in one place.

Two costs that no array code can avoid are set here, before any work starts:

- OpenBLAS picks its kernels from the CPU model; version 0.3 treats AMD Zen 4, which has AVX-512,
  as a Haswell (AVX2) machine, which halves the rate of float32 matrix products. Asking for the
  SkylakeX kernels through ``OPENBLAS_CORETYPE`` only works before NumPy loads OpenBLAS.
- glibc returns large freed blocks to the system, so every step's fresh arrays are page-faulted
  in again (about 12,000 faults and a fifth of the step's time); raising the mmap and trim
  thresholds keeps freed memory in the process for reuse.

Here too: how many threads BLAS may use inside a block (the engine runs its two branches in two
threads, each with one BLAS thread) and which kernels it runs. This module imports nothing heavy:
``for_speed`` must run before NumPy is imported.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys

AVX512 = frozenset({"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"})  # what SkylakeX kernels use
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
KEEP_BYTES = 1 << 30


def cpu_flags(path: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags (empty when the system does not say)."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def openblas_coretype(environ=os.environ, flags: frozenset[str] | None = None, override: bool = False,
                      numpy_loaded: bool | None = None) -> str | None:
    """Ask OpenBLAS for its AVX-512 kernels when the CPU has them; returns what is in force.

    An ``OPENBLAS_CORETYPE`` already set is kept unless ``override``; once NumPy is loaded,
    nothing changes.
    """
    loaded = "numpy" in sys.modules if numpy_loaded is None else numpy_loaded
    if loaded or ("OPENBLAS_CORETYPE" in environ and not override):
        return environ.get("OPENBLAS_CORETYPE")
    if (cpu_flags() if flags is None else flags) >= AVX512:
        environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    return environ.get("OPENBLAS_CORETYPE")


def keep_freed_memory() -> bool:
    """Keep freed blocks of up to 1 GiB in the process (glibc only); True when applied."""
    name = ctypes.util.find_library("c")
    if not sys.platform.startswith("linux") or not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2 * KEEP_BYTES))
    except (OSError, AttributeError):
        return False


def for_speed(override: bool = False) -> dict:
    """Apply both settings (``override``: even over an OPENBLAS_CORETYPE already set); returns them."""
    return {"openblas_coretype": openblas_coretype(override=override), "keep_freed_memory": keep_freed_memory()}


_CORES = []


def cores() -> int:
    """The cores one computation of this process may use: the machine's (its affinity), or a worker's share."""
    if _CORES:
        return _CORES[0]
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def share_cores(n: int) -> None:
    """Set how many cores this process's computations may use (a worker, one of several, gets its share)."""
    _CORES[:] = [max(1, int(n))]


def branch_threads() -> int:
    """Threads for a network's two branches: two when this process has two cores to itself, else one."""
    return 2 if cores() >= 2 else 1


_CONTROLLER = []


def blas_threads(n: int):
    """A context limiting BLAS to n threads (threadpoolctl, when installed; else no effect)."""
    if not _CONTROLLER:
        # the controller sees only the BLAS libraries loaded when it is made: NumPy's, and SciPy's (its
        # own copy of OpenBLAS, which the experiments' SciPy calls may use)
        import numpy  # noqa: F401
        import scipy.linalg.blas  # noqa: F401

        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _CONTROLLER.append(None)
        else:
            _CONTROLLER.append(ThreadpoolController())
    return contextlib.nullcontext() if _CONTROLLER[0] is None else _CONTROLLER[0].limit(limits=n, user_api="blas")


def _blas_info() -> list[dict]:
    import numpy  # noqa: F401  (loads the BLAS libraries that threadpoolctl then inspects)
    import scipy.linalg.blas  # noqa: F401

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [i for i in threadpool_info() if i.get("user_api") == "blas"]


def kernel_architecture() -> str:
    """The OpenBLAS kernels this process runs ("unknown" without threadpoolctl or OpenBLAS)."""
    found = [i.get("architecture") for i in _blas_info() if i.get("internal_api") == "openblas"]
    return found[0] if found and found[0] else "unknown"


def blas_kernels() -> str:
    """The BLAS libraries loaded (NumPy's, SciPy's) and the kernels they use, as threadpoolctl reports them."""
    info = _blas_info()
    found = [f"{p['internal_api']} {p.get('version')} in {os.path.basename(os.path.dirname(p.get('filepath', '')))} "
             f"({p.get('architecture')} kernels)" for p in info]
    return ", ".join(sorted(found)) or "none"


def memory_total() -> int:
    """Bytes of physical memory of this machine (0 when the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def check_memory(need: int, what: str, total: int | None = None) -> None:
    """Refuse, with one line, work that would need more memory than the machine has (a DeriveError)."""
    from derive.errors import DeriveError

    total = memory_total() if total is None else total
    if total and need > total:
        raise DeriveError(f"{what} would need about {_gib(need)} of memory, more than the {_gib(total)} of this "
                          "machine; make the spec's layers smaller")


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB" if n < 2**50 else f"{n / 2**40:,.0f} TiB"
