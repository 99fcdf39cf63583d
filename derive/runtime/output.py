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

from derive.errors import DeriveError, printable
from derive.runtime import cache


@contextlib.contextmanager
def staging(out, prefix: str):
    """A temporary folder on the filesystem of ``out`` (removed on exit); refuses a folder it cannot create.

    Inside ``out`` when it exists (a writable folder under a read-only parent works), else beside it.
    """
    cache.check_folder(out)
    out = Path(out)
    try:
        if not out.is_dir():
            out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=(out if out.is_dir() else out.parent).resolve()))
    except OSError as exc:
        raise DeriveError(f"{printable(out)}: cannot write there ({exc.strerror})") from None
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: Path, text: str) -> Path:
    """Write UTF-8 text with Unix line ends; returns the path."""
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def check_targets(out: Path, names, folders=()) -> None:
    """Every file a move will replace is a file or nothing, every folder it fills a folder or nothing."""
    out = Path(out)
    for name in folders:
        if (out / name).exists() and not (out / name).is_dir():
            raise DeriveError(f"{printable(out / name)}: exists and is not a folder (the output puts files there)")
    for name in names:
        target = out / name
        if target.is_dir() or (target.exists() and not target.is_file()):
            raise DeriveError(f"{printable(target)}: exists and is not a file (the output would replace it)")


def check_keeps(out, names, inputs) -> None:
    """Refuse an output file that is one of the command's own input files (it would be replaced by it)."""
    for name in names:
        target = Path(out) / name
        for source in inputs:
            if target.is_file() and Path(source).is_file() and os.path.samefile(target, source):
                raise DeriveError(f"{printable(target)}: is the input file {printable(source)}, which the output "
                                  "would replace: choose another folder")


def move_into(paths, tmp: Path, out: Path) -> list[Path]:
    """Move files from the staging folder into ``out`` (same relative places); returns their new paths.

    Every target is checked before the first move, and if a move fails, every file already moved is
    taken out and every file it replaced put back: the folder is as it was, and the error says so.
    """
    out = Path(out)
    targets = [out / Path(p).relative_to(tmp) for p in paths]
    check_targets(out, [str(t.relative_to(out)) for t in targets])
    backup = Path(tmp) / ".replaced"
    done = []  # (target, its backup or None)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for p, target in zip(paths, targets):
            target.parent.mkdir(parents=True, exist_ok=True)
            saved = None
            if target.exists():
                saved = backup / Path(p).relative_to(tmp)
                saved.parent.mkdir(parents=True, exist_ok=True)
                os.replace(target, saved)
            done.append((target, saved))
            os.replace(p, target)
    except OSError as exc:
        for target, saved in reversed(done):
            with contextlib.suppress(OSError):
                if saved is not None:
                    os.replace(saved, target)
                else:
                    target.unlink(missing_ok=True)
        raise DeriveError(f"{printable(out)}: cannot write there ({exc.strerror}); nothing was changed") from None
    return targets


def check_file(path) -> None:
    """Refuse, before any work, a file path that is a folder or lies where nothing can be written."""
    path = Path(path)
    if path.is_dir():
        raise DeriveError(f"{printable(path)}: is a folder, not a file")
    if path.exists() and not path.is_file():
        raise DeriveError(f"{printable(path)}: exists and is not a regular file (it would be replaced)")
    cache.check_folder(path.parent if str(path.parent) else ".")


def write_file(path, data: bytes) -> Path:
    """Write bytes through a temporary file beside ``path``, moved over it at once (readers never see half)."""
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()  # the link is the user's; what it points to is the file they asked for
    umask = os.umask(0)
    os.umask(umask)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.fchmod(fd, 0o666 & ~umask)  # as open() would create it: mkstemp's 0600 is for secrets
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise DeriveError(f"{printable(path)}: cannot write there ({exc.strerror})") from None
        raise
    return path
