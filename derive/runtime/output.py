"""Output folders written all at once: files are made in a temporary folder beside the target, then moved in.

A command that writes several files (the sheet, the grading pages) stages them with :func:`staging`
and moves them into place with :func:`move_into` only when every one exists, so a failure leaves the
output folder as it was; :func:`write_text` writes UTF-8 with Unix line ends, the same bytes everywhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from derive.errors import DeriveError
from derive.runtime import cache


@contextlib.contextmanager
def staging(out, prefix: str):
    """A temporary folder beside ``out`` (removed on exit); refuses an output folder it cannot create."""
    cache.check_folder(out)
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=out.parent.resolve()))
    except OSError as exc:
        raise DeriveError(f"{out}: cannot write there ({exc.strerror})") from None
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: Path, text: str) -> Path:
    """Write UTF-8 text with Unix line ends; returns the path."""
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def move_into(paths, tmp: Path, out: Path) -> list[Path]:
    """Move files from the staging folder into ``out`` (same relative places); returns their new paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for p in paths:
        target = out / Path(p).relative_to(tmp)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(p, target)
        done.append(target)
    return done


def check_file(path) -> None:
    """Refuse, before any work, a file path that is a folder or lies where nothing can be written."""
    path = Path(path)
    if path.is_dir():
        raise DeriveError(f"{path}: is a folder, not a file")
    cache.check_folder(path.parent if str(path.parent) else ".")


def write_file(path, data: bytes) -> Path:
    """Write bytes through a temporary file beside ``path``, moved over it at once (readers never see half)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.fchmod(fd, 0o666 & ~umask)  # as open() would create it: mkstemp's 0600 is for secrets
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path
