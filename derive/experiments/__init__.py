"""Experiments that back the sheet's conceptual answers, rerun on real tensors and cached.

Library API (no click needed)::

    from derive import experiments
    result = experiments.run("loss", seed=0, quick=True)
    result.conclusion   # the numbers the sheet quotes, with their seed and sizes
    result.numbers      # everything the experiment measured (also in result.json)
    result.figures      # PNG files, deterministic by seed

``run_all`` runs every experiment of ``NAMES`` in order. Results live in a cache directory keyed
by the experiment, its spec, data, seed, quick/full and the source of the code it runs
(:mod:`derive.runtime.cache`).
``progress``, if given, is called as ``progress(label, total)`` and must return a context manager
whose value has ``update(n)`` (``click.progressbar(length=total, label=label)`` fits).
"""

from derive.experiments.runner import (
    NAMES,
    Result,
    describe,
    run,
    run_all,
)

__all__ = ["NAMES", "Result", "describe", "run", "run_all"]
