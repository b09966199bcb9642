"""CoSafe behind the Suite protocol: multi-turn coreference attacks, earlier turns replayed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from ctxsafe.images import ImageStore
from ctxsafe.suites.cosafe.loader import SUITE, load_cosafe
from ctxsafe.suites.protocol import CommonOptions, Prepared, ScoringShape
from ctxsafe.suites.shaped import ShapedSuite, gen_params


class CoSafe(ShapedSuite):
    name = SUITE
    summary = "CoSafe: multi-turn coreference attacks; fixed earlier turns replayed, the final turn answered."
    shape: ScoringShape = "unsafe-only"
    settings: ClassVar[Mapping[str, str]] = {
        "default": "earlier user and assistant turns replayed verbatim; the model answers the final attack turn"}
    data_help = "A CoSafe folder of per-category files (<category>.json, one dialogue per line)."
    title = "CoSafe"

    def prepare(self, common: CommonOptions, extra: dict[str, Any], images: ImageStore) -> Prepared:
        params = gen_params(common, SUITE)
        assert common.data is not None
        return Prepared(cases=load_cosafe(Path(common.data)), setting="default", params=params,
                        identity={"data": common.data}, title="CoSafe")


COSAFE = CoSafe()
