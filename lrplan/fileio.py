"""Files in and out: bounded reads of regular files only, atomic writes that never go over an input.

Reading: a config or checkpoint is opened without blocking (``O_NONBLOCK``) and refused unless it is
a regular file, so a FIFO named ``x.pt`` or ``/dev/zero`` given as a SOURCE ends in a message instead
of a hang or a multi-GB read; text is read with a bounded ``read`` (``stat`` sizes lie for devices).

Writing: ``-o FILE`` goes through a temporary file in the same directory and a rename, so a reader
never sees half a file; the temporary file is removed on any error and on SIGINT/SIGTERM. An output
that is one of the inputs (the same file by inode: hard links, symlinks, ``./a/../a``) or lies inside
an input directory (a checkpoint run directory) is refused. Character devices and pipes (``/dev/null``,
``/dev/stdout``, a FIFO) are written through, never replaced; a full disk, a read-only file system, a
missing directory or a name that is too long is an :class:`OutputError` naming the path.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
from pathlib import Path

from .errors import ExitCode, LrplanError

MAX_TEXT_BYTES = 16 * 1024 * 1024  # a config file is small; anything larger is not one


class OutputError(LrplanError):
    """The output cannot be written (a full disk, a read-only file system, a bad path)."""

    exit_code = ExitCode.OUTPUT


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: Path, what: str = "file") -> int:
    """A read-only descriptor of ``path``, which must be a regular file (never blocks on a FIFO)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        raise LrplanError(f"{path} is a directory, not a {what}") from None
    except OSError as e:
        raise LrplanError(f"cannot read {path}: {e.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as e:  # pragma: no cover - fstat of an open descriptor does not fail on Linux
        os.close(fd)
        raise LrplanError(f"cannot read {path}: {e.strerror}") from None
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise LrplanError(f"{path} is {_kind(mode)}, not a {what}",
                          hint=f"lrplan reads a {what} only from a regular file")
    return fd


def read_bytes(path: Path, *, what: str = "file", limit: int = MAX_TEXT_BYTES) -> bytes:
    """At most ``limit`` bytes of a regular file; more is an error (a bounded read, not ``stat``)."""
    fd = open_regular(Path(path), what)
    try:
        with os.fdopen(fd, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise LrplanError(f"cannot read {path}: {e.strerror}") from None
    if len(data) > limit:
        size = f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"
        raise LrplanError(f"{path} is larger than {size}; a {what} is expected to be small",
                          hint="pass --from checkpoint if this is a checkpoint")
    return data


def read_text(path: Path, *, what: str = "config file", limit: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of a small regular file (a leading byte-order mark is dropped)."""
    data = read_bytes(path, what=what, limit=limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise LrplanError(f"{path} is not a UTF-8 text file (byte {e.start})",
                          hint="a checkpoint? lrplan reads .pt/.bin/.ckpt files and checkpoint directories") from None


# ---- writing -----------------------------------------------------------------------------------------


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def check_not_input(target: Path, inputs) -> None:
    """Refuse an output that is an input, the same file by inode, or inside an input directory."""
    try:
        tstat = os.stat(target)
    except OSError:
        tstat = None
    real = Path(os.path.realpath(target))
    for src in inputs:
        if not src or "\n" in str(src) or len(str(src)) > 4096:
            continue  # a spec or flag string, not a path
        p = Path(str(src)).expanduser()
        try:
            sstat = os.stat(p)
        except OSError:
            continue
        if tstat is not None and _same_file(tstat, sstat):
            raise LrplanError(f"refusing to overwrite the input {src}", hint="choose another -o path")
        if stat.S_ISDIR(sstat.st_mode):
            root = Path(os.path.realpath(p))
            if real == root or root in real.parents:
                raise LrplanError(f"refusing to write {target} inside the input directory {src}",
                                  hint="write the output outside the checkpoint directory")


_ERRNO_WORDS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
                errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
                errno.EPERM: "permission denied", errno.ENAMETOOLONG: "the file name is too long",
                errno.ENOENT: "the directory does not exist", errno.ENOTDIR: "a parent is not a directory",
                errno.EISDIR: "it is a directory"}


def _output_error(path: Path, e: OSError) -> OutputError:
    why = _ERRNO_WORDS.get(e.errno, e.strerror or type(e).__name__)
    return OutputError(f"cannot write {path}: {why}")


class _Interrupted(BaseException):
    """SIGTERM during a write: unwind (removing the temporary file), then exit like the signal."""


def _raise_interrupted(signum, frame):
    raise _Interrupted(signum)


def write_atomic(path: Path, data: str | bytes, *, inputs=()) -> None:
    """Write ``data`` to ``path`` (atomically for regular files; through for devices and pipes)."""
    path = Path(path)
    check_not_input(path, inputs)
    blob = data.encode("utf-8") if isinstance(data, str) else data
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise _output_error(path, e) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"cannot write {path}: it is a directory", hint="give a file name, e.g. -o out.png")
    if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        _write_through(path, blob)
        return
    _write_replace(path, blob)


def _write_through(path: Path, blob: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            view = memoryview(blob)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        finally:
            os.close(fd)
    except OSError as e:
        raise _output_error(path, e) from None


def _write_replace(path: Path, blob: bytes) -> None:
    target = Path(os.path.realpath(path))  # through a symlink, replace the file it names
    real_parent = target.parent
    if not real_parent.is_dir():
        raise OutputError(f"cannot write {path}: the directory {path.parent} does not exist")
    # The temporary name must fit in NAME_MAX even when the target's name nearly does.
    import tempfile  # only commands that write a file pay for it (start-up is a benchmark target)

    prefix = "." + target.name[:180] + "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=real_parent)
    except OSError as e:
        raise _output_error(path, e) from None
    old = None
    try:
        old = signal.signal(signal.SIGTERM, _raise_interrupted)
    except ValueError:  # not the main thread: no handler, the except below still cleans up errors
        pass
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, _Interrupted):
            raise SystemExit(128 + signal.SIGTERM) from None
        if isinstance(e, OSError):
            raise _output_error(path, e) from None
        raise
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
