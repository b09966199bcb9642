"""A loopback port nothing listens on, for tests of an unreachable endpoint (connecting is refused at once)."""

from __future__ import annotations

import socket


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on exit: connecting is refused at once
