"""A small on-disk cache for JSON results, keyed by what they depend on: spec, seed and the code that made them.

The sheet uses it for the certificate, whose run on real tensors takes far longer than rendering.
A key hashes the spec's canonical form, the seed, the tool's version and the source text of the
modules the computation runs, so any change to one of them computes afresh.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib
import json
import os
import tempfile
from pathlib import Path

from derive.errors import DeriveError

DEFAULT_DIR = Path(".derive-cache")


def closure(names) -> list[str]:
    """The derive modules the named ones import, directly or not (read from their source, not run)."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        path = _source(name)
        if name in seen or path is None:
            continue
        seen.add(name)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "derive":
                todo += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                todo += [a.name for a in node.names if a.name.split(".")[0] == "derive"]
    return sorted(seen)


def _source(name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != "derive":
        return None
    base = Path(__file__).parent.joinpath(*parts[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def code_version(modules=None) -> str:
    """A digest of the source of the named modules (e.g. "derive.certificate"); default every derive/*.py."""
    digest = hashlib.sha256()
    if modules is None:
        files = sorted(Path(__file__).parent.glob("*.py"))
    else:
        files = [_source(name) or Path(importlib.import_module(name).__file__) for name in sorted(modules)]
    for path in files:
        digest.update(str(path.relative_to(Path(__file__).parent)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def key(spec, seed: int, modules=None, **options) -> str:
    """The cache key of a computation on a spec with a seed, by the code of `modules`, with options."""
    from derive import __version__

    canon = json.dumps({"spec": dataclasses.asdict(spec) | {"source": None}, "seed": seed, "options": options,
                        "version": __version__, "code": code_version(modules)}, sort_keys=True, default=list)
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def check_folder(path: str | Path) -> None:
    """Refuse, before any long computation, a folder that is a file or lies under a file or a read-only folder."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DeriveError(f"{path}: exists and is not a folder")
    existing = next(p for p in (path, *path.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise DeriveError(f"{path}: cannot be a folder, {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DeriveError(f"{path}: cannot write there ({existing} is not writable)")


def cached(name: str, key_: str, compute, directory: str | Path | None = None) -> dict:
    """The JSON result stored under name/key, or compute() stored there atomically and returned."""
    path = Path(directory or DEFAULT_DIR) / name / f"{key_}.json"
    if path.exists():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            pass  # a damaged entry is recomputed
    result = compute()
    text = json.dumps(result, sort_keys=True, indent=1, default=_plain)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return json.loads(text)


def stored(name: str, key_: str, directory: str | Path | None = None) -> bool:
    """Whether a result is stored under name/key (it may still be damaged, which `cached` repairs)."""
    return (Path(directory or DEFAULT_DIR) / name / f"{key_}.json").is_file()


def fill(name: str, key_: str, directory, fn, *args, **kwargs) -> None:
    """Store fn(*args, **kwargs) under name/key unless it is there: `cached` for a worker process."""
    cached(name, key_, lambda: fn(*args, **kwargs), directory)


def _plain(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
