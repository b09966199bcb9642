"""Say precisely why a path that should be a readable file is not one.

"Does not exist" is wrong for a folder, a FIFO, a broken link or a symlink loop, and a user fixing
their data needs to know which it is.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def why_not_a_file(path: Path) -> str | None:
    """None when `path` is a regular file (following links); else what it is instead."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symbolic link loop"
        if os.path.islink(path):
            return "is a broken symbolic link"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return "does not exist"
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a file"
    return "is a device or special file, not a regular file"


def explain_unreadable(path: Path, exc: OSError) -> str:
    return why_not_a_file(path) or (exc.strerror or str(exc))
