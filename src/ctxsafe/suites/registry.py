"""Every suite ctxsafe knows, by name. Adding a suite is one package and one line in `suites.catalog`."""

from __future__ import annotations

from ctxsafe.errors import ConfigError
from ctxsafe.suites.catalog import CATALOG, load_suite
from ctxsafe.suites.protocol import Suite

SUITES: dict[str, Suite] = {name: load_suite(name) for name in CATALOG}


def get_suite(name: str | None) -> Suite:
    if name is None or name not in SUITES:
        raise ConfigError(f"unknown suite {name!r}; known: {', '.join(SUITES)}")
    return SUITES[name]
