"""The per-run lock file: one process executes a run at a time, and the OS drops the lock if it dies."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ctxsafe.engine.store_schema import store_problem
from ctxsafe.errors import RunLockedError


def acquire(lock_path: Path, run_id: str, store: Path) -> int:
    """An exclusive lock on the run's lock file, retried if the file was replaced while we waited."""
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise store_problem(store, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLockedError(
                f"run {run_id} is already being executed by another process (lock {lock_path}); "
                "wait for it to finish or stop it first") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # else the previous holder removed it after we opened it: take the new file
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            return fd
        os.close(fd)


def is_held(lock_path: Path) -> bool:
    """Whether a live process holds this lock file (read-only: never creates one)."""
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
