"""Where each suite lives, by name, and the checks of `--data` that need no suite code.

Why: `ctxsafe run SUITE` imports only the suite it runs, and a missing data path is refused before
even that suite's module (its loaders, pydantic models, judges) is imported (issue 12: a configuration
error in a blink). `suites.registry` builds every suite from this table.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

from ctxsafe.errors import ConfigError

if TYPE_CHECKING:
    from ctxsafe.suites.protocol import Suite

HF_PREFIX = "hf://"


CATALOG: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # name: (module, attribute holding the Suite, the named data sources `--data` takes besides paths and hf://)
    "mssbench": ("ctxsafe.suites.mssbench.suite", "MSSBENCH", ("demo",)),
    "mtmcs": ("ctxsafe.suites.mtmcs.suite", "MTMCS", ("demo",)),
    "native": ("ctxsafe.suites.native.suite", "NATIVE", ()),
    "mossbench": ("ctxsafe.suites.mossbench.suite", "MOSSBENCH", ()),
    "siuo": ("ctxsafe.suites.siuo.suite", "SIUO", ()),
    "vlsbench": ("ctxsafe.suites.vlsbench.suite", "VLSBENCH", ()),
    "mmsafety": ("ctxsafe.suites.mmsafety.suite", "MMSAFETY", ()),
    "figstep": ("ctxsafe.suites.figstep.suite", "FIGSTEP", ()),
    "xstest": ("ctxsafe.suites.xstest.suite", "XSTEST", ()),
    "cosafe": ("ctxsafe.suites.cosafe.suite", "COSAFE", ()),
}


def load_suite(name: str) -> Suite:
    """Import one suite's module and return its Suite."""
    if name not in CATALOG:
        raise ConfigError(f"unknown suite {name!r}; known: {', '.join(CATALOG)}")
    module, attr, _ = CATALOG[name]
    suite: Suite = getattr(importlib.import_module(module), attr)
    return suite


def check_data(name: str, data: str | None) -> None:
    """A `--data` that is neither one of the suite's named sources, nor hf://..., nor an existing path fails here,
    with the message the suite's loader would give, before the suite is imported."""
    if data is None or data.startswith(HF_PREFIX) or data in CATALOG[name][2] or os.path.lexists(data):
        return
    raise ConfigError(f"data path {data} does not exist")
