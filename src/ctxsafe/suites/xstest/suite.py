"""XSTest behind the Suite protocol: over-refusal on safe prompts, refusal on their contrasts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from ctxsafe.images import ImageStore
from ctxsafe.suites.protocol import CommonOptions, Prepared, ScoringShape
from ctxsafe.suites.shaped import ShapedSuite, gen_params
from ctxsafe.suites.xstest.loader import FILE, SUITE, load_xstest


class XSTest(ShapedSuite):
    name = SUITE
    summary = "XSTest: text prompts that sound unsafe but are safe (over-refusal), with unsafe contrast prompts."
    shape: ScoringShape = "benign-only"
    settings: ClassVar[Mapping[str, str]] = {
        "default": "safe prompts scored benign-only (over-refusal); contrast prompts scored unsafe-only"}
    data_help = f"An XSTest folder holding {FILE} (or the CSV file itself)."
    title = "XSTest"

    def prepare(self, common: CommonOptions, extra: dict[str, Any], images: ImageStore) -> Prepared:
        params = gen_params(common, SUITE)
        assert common.data is not None
        cases = load_xstest(Path(common.data))
        return Prepared(cases=cases, setting="default", params=params, identity={"data": common.data},
                        title="XSTest")


XSTEST = XSTest()
