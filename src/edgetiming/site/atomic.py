"""Replace the built site in one step, so a killed or failed build leaves the previous site whole.

``edgetiming site`` builds into a sibling folder ``.<site>.building-<pid>-*``
and, only when ``mkdocs build --strict`` succeeded, swaps it with the old
site: one ``renameat2(RENAME_EXCHANGE)`` on Linux, otherwise two renames (old
site aside to ``.<site>.previous-<pid>``, new site in). A build killed at any
point leaves either the old site or the new one at ``<site>``; a staging
folder left by a killed build is removed by the next build, and a site left
aside between the two renames is put back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
import tempfile
import uuid
from pathlib import Path

__all__ = ["discard", "recover", "stage", "swap_in"]

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(folder: Path, marker: str) -> int | None:
    rest = folder.name.split(marker, 1)[1] if marker in folder.name else ""
    head = rest.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover(site_dir: Path) -> None:
    """Put back a site left aside by a build killed between its two renames; drop dead builds' folders."""
    parent = site_dir.parent
    if not parent.is_dir():
        return
    building, previous = f".{site_dir.name}.building-", f".{site_dir.name}.previous-"
    for child in sorted(parent.iterdir()):
        for marker in (building, previous):
            if not child.name.startswith(marker):
                continue
            pid = _owner(child, marker)
            if pid is not None and pid != os.getpid() and _alive(pid):
                continue  # another build is using it
            if marker == previous and not site_dir.exists():
                os.rename(child, site_dir)
            else:
                shutil.rmtree(child, ignore_errors=True)


def stage(site_dir: Path) -> Path:
    """A fresh, empty sibling folder of ``site_dir`` to build into (same filesystem, so renames work)."""
    site_dir.parent.mkdir(parents=True, exist_ok=True)
    recover(site_dir)
    return Path(tempfile.mkdtemp(prefix=f".{site_dir.name}.building-{os.getpid()}-", dir=site_dir.parent))


def discard(staged: Path) -> None:
    shutil.rmtree(staged, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where the system cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), str(b))


def swap_in(staged: Path, site_dir: Path) -> None:
    """Make ``staged`` the site at ``site_dir``; the old site is removed afterwards."""
    if not site_dir.exists():
        os.rename(staged, site_dir)
    elif _exchange(staged, site_dir):
        shutil.rmtree(staged, ignore_errors=True)  # now holds the old site
    else:
        aside = site_dir.parent / f".{site_dir.name}.previous-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.rename(site_dir, aside)
        os.rename(staged, site_dir)
        shutil.rmtree(aside, ignore_errors=True)
    _fsync_dir(site_dir.parent)
