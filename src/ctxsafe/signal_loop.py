"""`asyncio.run` whose event loop always wakes for a signal, so Ctrl-C and SIGTERM stop a run at once even
while it waits on a request the server holds open.

Python runs a signal's handler in the main thread, between bytecodes; a wait in `select` is cut short only
if the signal interrupts that very wait. `asyncio.run` installs its SIGINT handler with `signal.signal`,
which sets no wakeup fd, so a signal taken just before the loop enters its wait (a preempted process on a
busy machine) or by another thread (the loop's resolver thread) leaves the loop asleep until its next event:
for a held request, its timeout, minutes later. A wakeup fd read by the loop closes both windows.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def _drain(sock: socket.socket) -> None:
    """The bytes only woke the loop; the signal's own handler does the work."""
    with contextlib.suppress(OSError):  # BlockingIOError: nothing left to read
        while sock.recv(4096):
            pass


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` (the first SIGINT cancels `main`, then KeyboardInterrupt), with every signal that
    has a Python handler also waking the loop. Off the main thread (no signal handlers run there): plain run."""
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(main)
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    try:
        with asyncio.Runner() as runner:
            runner.get_loop().add_reader(reader.fileno(), _drain, reader)
            return runner.run(main)
    finally:
        signal.set_wakeup_fd(previous)
        reader.close()
        writer.close()
