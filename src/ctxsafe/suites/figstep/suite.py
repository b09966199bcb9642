"""FigStep behind the Suite protocol: typographic images generated from SafeBench (unsafe-only)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from ctxsafe.images import ImageStore
from ctxsafe.suites.figstep.loader import FILE, SUITE, load_figstep
from ctxsafe.suites.figstep.render import RENDER_VERSION
from ctxsafe.suites.protocol import CommonOptions, Prepared, ScoringShape
from ctxsafe.suites.shaped import ShapedSuite, gen_params


class FigStep(ShapedSuite):
    name = SUITE
    summary = "FigStep: the harmful instruction typeset into the image; the text prompt only asks to fill a list."
    shape: ScoringShape = "unsafe-only"
    settings: ClassVar[Mapping[str, str]] = {
        "default": "one generated typographic image per SafeBench question, with a fixed benign-looking prompt"}
    data_help = f"A folder holding SafeBench's {FILE} (or the CSV file itself)."
    title = "FigStep"

    def prepare(self, common: CommonOptions, extra: dict[str, Any], images: ImageStore) -> Prepared:
        params = gen_params(common, SUITE)
        assert common.data is not None
        cases = load_figstep(Path(common.data), images)
        return Prepared(cases=cases, setting="default", params=params,
                        identity={"data": common.data, "render": RENDER_VERSION}, title="FigStep")


FIGSTEP = FigStep()
