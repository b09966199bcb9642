"""Every suite ctxsafe knows, by name. Adding a suite is one package and one line here."""

from __future__ import annotations

from ctxsafe.errors import ConfigError
from ctxsafe.suites.cosafe.suite import COSAFE
from ctxsafe.suites.figstep.suite import FIGSTEP
from ctxsafe.suites.mmsafety.suite import MMSAFETY
from ctxsafe.suites.mossbench.suite import MOSSBENCH
from ctxsafe.suites.mssbench.suite import MSSBENCH
from ctxsafe.suites.mtmcs.suite import MTMCS
from ctxsafe.suites.native.suite import NATIVE
from ctxsafe.suites.protocol import Suite
from ctxsafe.suites.siuo.suite import SIUO
from ctxsafe.suites.vlsbench.suite import VLSBENCH
from ctxsafe.suites.xstest.suite import XSTEST

SUITES: dict[str, Suite] = {s.name: s for s in (MSSBENCH, MTMCS, NATIVE, MOSSBENCH, SIUO, VLSBENCH, MMSAFETY,
                                                FIGSTEP, XSTEST, COSAFE)}


def get_suite(name: str | None) -> Suite:
    if name is None or name not in SUITES:
        raise ConfigError(f"unknown suite {name!r}; known: {', '.join(SUITES)}")
    return SUITES[name]
