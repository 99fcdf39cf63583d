"""One store for computed results (certificates, experiments): a folder per entry, keyed by what it depends on.

An entry is ``<root>/<kind>/<key>/`` holding ``result.json`` and the files that come with the result
(an experiment's figures). The key hashes the kind, the tool's version, the source of every derive
module the computation imports (read from their source, not run) and the inputs given as parts
(spec, data, seed, options), so that a change to any of them computes afresh. ``result.json``
records the kind, the key and a digest of the payload and of every file: an entry whose record does
not match (edited, truncated, of the wrong shape) is a miss, recomputed and replaced, never quoted.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from derive.errors import DeriveError, printable

DEFAULT_DIR = Path(".derive-cache")
RECORD = "result.json"
FORMAT = 1
PACKAGE = Path(__file__).resolve().parent.parent


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
                # the package itself is the public facade, not code a computation runs: only what it names
                todo += ([] if node.module == "derive" else [node.module]) + [f"{node.module}.{a.name}"
                                                                               for a in node.names]
            elif isinstance(node, ast.Import):
                todo += [a.name for a in node.names if a.name.split(".")[0] == "derive"]
    return sorted(seen)


def _source(name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != "derive":
        return None
    base = PACKAGE.joinpath(*parts[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def code_version(modules) -> str:
    """A digest of the source of the named derive modules (e.g. "derive.certify.certificate")."""
    digest = hashlib.sha256()
    for name in sorted(modules):
        path = _source(name)
        if path is None:
            raise ValueError(f"no source for the module {name}")
        digest.update(str(path.relative_to(PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def canonical(value):
    """A JSON-ready view of a key part: a spec without its file name, a data source by its files."""
    if callable(getattr(value, "key", None)):
        return value.key()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: canonical(v) for k, v in dataclasses.asdict(value).items() if k != "source"}
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def key(kind: str, module: str, **parts) -> str:
    """The key of a result of ``kind`` computed by ``module`` (and what it imports) from the given parts."""
    from derive.version import __version__

    text = json.dumps({"kind": kind, "version": __version__, "code": code_version(closure([module])),
                       "parts": canonical(parts)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plain(obj):
    """NumPy values (recursively) as plain JSON values; NaN and infinities as null."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if hasattr(obj, "tolist"):
        return plain(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def dumps(obj) -> str:
    """Deterministic JSON text: sorted keys, plain values."""
    return json.dumps(plain(obj), indent=1, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n"


def _plain_name(name) -> bool:
    """A file name of an entry: no folder, no hidden file, nothing that leaves the entry."""
    return isinstance(name, str) and bool(name) and "/" not in name and "\\" not in name and not name.startswith(".")


def _digest(payload, folder: Path, names) -> str:
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, allow_nan=False).encode())
    for name in names:
        digest.update(name.encode() + b"\0")
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Entry:
    """One result in the store: ``<root>/<kind>/<key>/``."""

    root: Path
    kind: str
    key: str

    @property
    def folder(self) -> Path:
        """Where the entry lives."""
        return Path(self.root) / self.kind / self.key

    def files(self) -> list[Path]:
        """The files stored with the result (not its record), in name order."""
        record = self._record()
        return [] if record is None else [self.folder / n for n in record["files"]]

    def _record(self) -> dict | None:
        try:
            record = json.loads((self.folder / RECORD).read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        if (not isinstance(record, dict) or record.get("format") != FORMAT or record.get("kind") != self.kind
                or record.get("key") != self.key or "payload" not in record
                or not isinstance(record.get("files"), list)
                or not all(_plain_name(n) for n in record["files"])):
            return None
        try:
            if _digest(record["payload"], self.folder, record["files"]) != record.get("digest"):
                return None
        except (OSError, ValueError):
            return None
        return record

    def load(self, check=None):
        """The stored payload, or None when absent, damaged, or refused by ``check(payload) -> bool``."""
        record = self._record()
        if record is None:
            return None
        if check is not None:
            try:
                if not check(record["payload"]):
                    return None
            except (KeyError, TypeError, ValueError, AttributeError):
                return None
        return record["payload"]

    def store(self, payload, files=None, check=None):
        """Write the payload and files (``{name: write(path)}``) atomically; returns the payload as stored.

        An entry already there is kept only if it loads (``check`` included): same inputs, same result.
        """
        parent = self.folder.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{self.key}-", dir=parent))
        except OSError as exc:
            raise DeriveError(f"{parent}: cannot write the cache there ({exc.strerror})") from None
        try:
            names = sorted(files or {})
            for name in names:
                files[name](tmp / name)
            value = json.loads(json.dumps(plain(payload), allow_nan=False))
            record = {"format": FORMAT, "kind": self.kind, "key": self.key, "files": names,
                      "digest": _digest(value, tmp, names), "payload": value}
            (tmp / RECORD).write_text(dumps(record), encoding="utf-8")
            self._install(tmp, check)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return value

    def _install(self, tmp: Path, check=None) -> None:
        """Put the finished folder in place; a damaged or refused entry there is set aside first."""
        try:
            os.replace(tmp, self.folder)
            return
        except OSError:
            if self.load(check) is not None:
                return  # another process stored this key meanwhile: same inputs, same result
        aside = self.folder.with_name(f".{self.key}-stale-{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.folder, aside)
        os.replace(tmp, self.folder)
        shutil.rmtree(aside, ignore_errors=True)

    def get(self, compute, check=None):
        """The stored payload, or ``compute()`` stored and returned (its files: ``compute`` may return a pair)."""
        found = self.load(check)
        if found is not None:
            return found
        made = compute()
        payload, files = made if isinstance(made, tuple) else (made, None)
        return self.store(payload, files, check)


def fill(entry: Entry, fn, *args, **kwargs) -> None:
    """Store ``fn(*args, **kwargs)`` in an entry unless it is there: ``Entry.get`` for a worker process."""
    entry.get(lambda: fn(*args, **kwargs))


def export(entries, target: Path) -> None:
    """Copy entries into another store (``target``), laid out the same way; what it holds besides stays.

    Each entry is copied beside its place and renamed into it, so that the other store never holds a
    half-copied entry.
    """
    for entry in entries:
        destination = Path(target) / entry.kind / entry.key
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{entry.key}-", dir=destination.parent)) / entry.key
            shutil.copytree(entry.folder, tmp)
        except OSError as exc:
            raise DeriveError(f"{destination.parent}: cannot copy the evidence there ({exc.strerror})") from None
        try:
            aside = destination.with_name(f".{entry.key}-old-{os.getpid()}")
            if destination.exists():
                os.replace(destination, aside)
            os.replace(tmp, destination)
            shutil.rmtree(aside, ignore_errors=True)
        finally:
            shutil.rmtree(tmp.parent, ignore_errors=True)


def check_folder(path: str | Path) -> None:
    """Refuse, before any long computation, a folder that is a file or lies under a file or a read-only folder."""
    if not str(path).strip():  # Path("") is the current folder: an empty value is a slip, not a choice
        raise DeriveError("an empty folder name: name a folder (for the current one, '.')")
    path = Path(path)
    if os.path.lexists(path) and not path.exists():
        raise DeriveError(f"{printable(path)}: a symbolic link to nothing (or to itself), not a folder")
    if path.exists() and not path.is_dir():
        raise DeriveError(f"{printable(path)}: exists and is not a folder")
    existing = next(p for p in (path, *path.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise DeriveError(f"{path}: cannot be a folder, {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DeriveError(f"{path}: cannot write there ({existing} is not writable)")
