"""VLSBench behind the Suite protocol: the risk is only in the image (unsafe-only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ctxsafe.images import ImageStore
from ctxsafe.suites.hub import local_or_hub
from ctxsafe.suites.protocol import CommonOptions, Prepared, ScoringShape
from ctxsafe.suites.shaped import ShapedSuite, gen_params
from ctxsafe.suites.vlsbench.loader import FILE, HF_DATASET, SUITE, load_vlsbench


class VlsBench(ShapedSuite):
    name = SUITE
    summary = "VLSBench: harmless-looking instructions whose image carries the risk."
    shape: ScoringShape = "unsafe-only"
    settings: ClassVar[Mapping[str, str]] = {
        "default": "the judge sees each item's image description and safety reason"}
    data_help = f"A VLSBench folder ({FILE} and imgs/) or hf://{HF_DATASET}."
    title = "VLSBench"

    def prepare(self, common: CommonOptions, extra: dict[str, Any], images: ImageStore) -> Prepared:
        params = gen_params(common, SUITE)
        assert common.data is not None
        cases = load_vlsbench(local_or_hub(common.data, HF_DATASET), images)
        return Prepared(cases=cases, setting="default", params=params, identity={"data": common.data},
                        title="VLSBench")


VLSBENCH = VlsBench()
