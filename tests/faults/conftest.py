"""Real faults for the fault-injection suite: a small filesystem, a read-only folder, a killed process.

Nothing of edgetiming is mocked. Where this machine lets us mount (root in a
container or CI), a full disk is a 2 MiB tmpfs and a read-only folder is a
read-only bind mount; elsewhere a child process with ``RLIMIT_FSIZE`` stands in
for the full disk and the read-only test is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import FIXTURE_RECIPES, ROOT

SRC = ROOT / "src"


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                NO_MKDOCS_2_WARNING="1")


def cli(*args: str | Path, cwd: Path | None = None, preexec=None, timeout: float = 300,
        extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``edgetiming ARGS`` in a child process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "edgetiming.cli", *map(str, args)], cwd=cwd or ROOT,
                          env={**env(), **(extra_env or {})}, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=preexec)


def start(*args: str | Path, cwd: Path | None = None) -> subprocess.Popen[str]:
    """``edgetiming ARGS`` in its own process group, so a SIGKILL reaches its kernel too."""
    return subprocess.Popen([sys.executable, "-m", "edgetiming.cli", *map(str, args)], cwd=cwd or ROOT, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)


def _try_mount(*args: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def small_filesystem(path: Path, size: str = "2m") -> Iterator[bool]:
    """Mount a ``size`` tmpfs on ``path``; yields False (nothing mounted) where that is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = _try_mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    try:
        yield mounted
    finally:
        if mounted:
            _umount(path)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[bool]:
    """Make ``path`` read-only with a read-only bind mount onto itself; False where not allowed."""
    mounted = _try_mount("--bind", str(path), str(path))
    if mounted and not _try_mount("-o", "remount,bind,ro", str(path)):
        _umount(path)
        mounted = False
    try:
        yield mounted
    finally:
        if mounted:
            _umount(path)


def fill(folder: Path, leave: int) -> Path:
    """Fill the filesystem of ``folder`` until a write fails, then free ``leave`` bytes; return the filler."""
    filler = folder / "filler.bin"
    chunk = b"\0" * 65536
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(chunk)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    if leave:
        size = filler.stat().st_size
        os.truncate(filler, max(0, size - leave))
    return filler


def file_size_limit(limit: int):
    """A preexec_fn: the child may write no file beyond ``limit`` bytes (EFBIG instead of SIGXFSZ)."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def without_dac_override() -> None:
    """A preexec_fn: a root child loses the capabilities that let it ignore file modes (no-op for others)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), to show a state was left exactly as it was."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(text: str) -> str:
    """The ``error:`` line of a command's stderr; fails when there is a traceback instead."""
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder holding one good run of the fixture recipe ``passes`` on runner ``fx``."""
    results = tmp_path_factory.mktemp("good") / "results"
    done = cli("run", FIXTURE_RECIPES / "passes.py", "--runner", "fx", "--results", results)
    assert done.returncode == 0, done.stderr
    return results
