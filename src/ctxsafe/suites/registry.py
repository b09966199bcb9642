"""Every suite ctxsafe knows, by name. Adding a suite is one package and one line here."""

from __future__ import annotations

from ctxsafe.errors import ConfigError
from ctxsafe.suites.mssbench.suite import MSSBENCH
from ctxsafe.suites.mtmcs.suite import MTMCS
from ctxsafe.suites.native.suite import NATIVE
from ctxsafe.suites.protocol import Suite

SUITES: dict[str, Suite] = {s.name: s for s in (MSSBENCH, MTMCS, NATIVE)}


def get_suite(name: str | None) -> Suite:
    if name is None or name not in SUITES:
        raise ConfigError(f"unknown suite {name!r}; known: {', '.join(SUITES)}")
    return SUITES[name]
