"""One-line messages for faults of the environment: a full disk, a read-only folder, a missing permission.

An ``OSError`` from writing results or a site is not a bug of edgetiming and
deserves no traceback. :func:`message` turns it into one line that says what
failed, where, what was kept and what to do; the command line shows the
traceback only with ``--debug``.
"""

from __future__ import annotations

import errno
from pathlib import Path

__all__ = ["message", "what"]

_WHAT = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for this filesystem or process limit",
    errno.EROFS: "the folder is on a read-only filesystem",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or folder",
}
_FIX = {
    errno.ENOSPC: "free space on that filesystem (or write elsewhere{flag}), then run the command again",
    errno.EDQUOT: "free space within your quota (or write elsewhere{flag}), then run the command again",
    errno.EFBIG: "raise the file size limit (ulimit -f) or write elsewhere{flag}, then run the command again",
    errno.EROFS: "remount it read-write or write elsewhere{flag}, then run the command again",
    errno.EACCES: "give your user write permission there (or write elsewhere{flag}), then run the command again",
    errno.EPERM: "give your user write permission there (or write elsewhere{flag}), then run the command again",
    errno.ENOENT: "check that the folder exists and was not removed while the command ran, then run it again",
}


def what(exc: OSError) -> str:
    """The fault in a few words, e.g. ``no space left on the device``."""
    return _WHAT.get(exc.errno or 0, exc.strerror or str(exc))


def message(exc: OSError, *, doing: str, where: str | Path | None = None, kept: str, flag: str = "",
            fix: str | None = None) -> str:
    """``<doing> failed: <what> (<where>); kept: <kept>; <what to do>`` on one line.

    ``where`` is used when the error names no file; ``flag`` is the option that
    writes elsewhere (``--results DIR``, ``--out DIR``).
    """
    place = exc.filename or where
    at = f" ({place})" if place else ""
    todo = fix or _FIX.get(exc.errno or 0, "see the cause above, then run the command again").format(
        flag=f" with {flag}" if flag else "")
    return f"{doing} failed: {what(exc)}{at}; kept: {kept}; {todo}"
