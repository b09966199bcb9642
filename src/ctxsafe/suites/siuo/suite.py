"""SIUO behind the Suite protocol: safe image + safe text, unsafe together (unsafe-only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ctxsafe.images import ImageStore
from ctxsafe.suites.hub import local_or_hub
from ctxsafe.suites.protocol import CommonOptions, Prepared, ScoringShape
from ctxsafe.suites.shaped import ShapedSuite, gen_params
from ctxsafe.suites.siuo.loader import FILE, HF_DATASET, SUITE, load_siuo


class Siuo(ShapedSuite):
    name = SUITE
    summary = "SIUO: a safe image and a safe question whose combination is unsafe (generation split)."
    shape: ScoringShape = "unsafe-only"
    settings: ClassVar[Mapping[str, str]] = {
        "gen": "open generation; the judge sees each item's safety warning and reference answer"}
    data_help = f"A SIUO folder ({FILE} and images/, at the root or under data/) or hf://{HF_DATASET}."
    title = "SIUO"

    def prepare(self, common: CommonOptions, extra: dict[str, Any], images: ImageStore) -> Prepared:
        params = gen_params(common, SUITE)
        assert common.data is not None
        cases = load_siuo(local_or_hub(common.data, HF_DATASET), images)
        return Prepared(cases=cases, setting="gen", params=params, identity={"data": common.data}, title="SIUO")


SIUO = Siuo()
