"""A signal must stop `signal_loop.run` even when the loop is already asleep in its wait and the signal's C
handler runs where it cannot interrupt that wait (another thread here; the main thread just before the wait
on a busy machine: the rare hang of the Ctrl-C test). `asyncio.run` sleeps on until the loop's next event.

No timing: the signal is sent once the main thread is seen waiting in epoll (its wchan), and the loop's only
other event is a fail-safe timer a minute later, which must never fire.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from ctxsafe import cli_common
from ctxsafe.cli_common import user_errors
from ctxsafe.exit_codes import ExitCode
from ctxsafe.signal_loop import run

MAIN_WCHAN = Path(f"/proc/self/task/{threading.get_native_id()}/wchan")
pytestmark = pytest.mark.skipif(not MAIN_WCHAN.exists(), reason="needs Linux /proc to see the loop asleep")


@pytest.fixture
def terminal_signals(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Ctrl-C as in a terminal (a background shell starts the tests with SIGINT ignored), and no SIGTERM
    remembered from another test."""
    monkeypatch.setattr(cli_common, "_terminated", [False])
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def signal_when_asleep(sig: int, seen: list[str]) -> threading.Thread:
    """A thread that waits until the main thread sleeps in the loop's epoll wait, then takes `sig` itself:
    the C handler runs in this thread, so nothing interrupts the main thread's wait."""
    def send() -> None:
        deadline = time.monotonic() + 60
        while MAIN_WCHAN.read_text() != "do_epoll_wait" and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.append(MAIN_WCHAN.read_text())
        signal.pthread_kill(threading.get_ident(), sig)

    return threading.Thread(target=send, daemon=True)


async def held(sender: threading.Thread, fail_safe: list[str]) -> None:
    """Stands for a run waiting on a request the server holds open: nothing wakes the loop but the signal."""
    asyncio.get_running_loop().call_later(60, fail_safe.append, "the loop slept until its next timer")
    sender.start()
    await asyncio.Event().wait()


@pytest.mark.usefixtures("terminal_signals")
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, ExitCode.INTERRUPTED),
                                           (signal.SIGTERM, ExitCode.TERMINATED)])
def test_a_signal_that_cannot_interrupt_the_wait_still_stops_the_run(sig: int, code: int) -> None:
    seen: list[str] = []
    fail_safe: list[str] = []
    sender = signal_when_asleep(sig, seen)
    with pytest.raises(typer.Exit) as stopped, user_errors():  # as `ctxsafe run` does
        run(held(sender, fail_safe))
    sender.join(10)
    assert stopped.value.exit_code == code
    assert seen == ["do_epoll_wait"]  # the signal came while the loop slept
    assert fail_safe == []  # and woke it: asyncio.run stops here only after the timer


def test_the_previous_wakeup_fd_is_restored() -> None:
    async def answer() -> int:
        return 7

    before = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(before)
    assert run(answer()) == 7
    assert signal.set_wakeup_fd(before) == before
