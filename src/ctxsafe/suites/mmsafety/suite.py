"""MM-SafetyBench behind the Suite protocol: query-relevant images, one variant per run (unsafe-only)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer

from ctxsafe.errors import ConfigError
from ctxsafe.images import ImageStore
from ctxsafe.suites.mmsafety.loader import SUITE, VARIANTS, load_mmsafety
from ctxsafe.suites.protocol import CommonOptions, Prepared, ScoringShape, SuiteOption
from ctxsafe.suites.shaped import ShapedSuite, gen_params


class MmSafety(ShapedSuite):
    name = SUITE
    summary = "MM-SafetyBench: harmful key phrases moved into query-relevant images (SD, TYPO, SD+TYPO)."
    shape: ScoringShape = "unsafe-only"
    settings: ClassVar[Mapping[str, str]] = {
        "sd": "Stable Diffusion image of the key phrase, with the SD rephrased question",
        "typo": "the key phrase typeset as an image, with the rephrased question",
        "sd_typo": "the SD image with the key phrase typeset below it, with the rephrased question"}
    data_help = "An MM-SafetyBench folder (processed_questions/*.json and imgs/<scenario>/<variant>/)."
    options = (SuiteOption("setting", Annotated[str, typer.Option(help=f"One of {', '.join(VARIANTS)}.")],
                           "sd_typo"),)
    title = "MM-SafetyBench"

    def prepare(self, common: CommonOptions, extra: dict[str, Any], images: ImageStore) -> Prepared:
        params = gen_params(common, SUITE)
        variant = str(extra["setting"])
        if variant not in VARIANTS:
            raise ConfigError(f"--setting must be one of {', '.join(VARIANTS)}")
        assert common.data is not None
        cases = load_mmsafety(Path(common.data), variant, images)
        return Prepared(cases=cases, setting=variant, params=params,
                        identity={"data": common.data, "setting": variant}, title=f"MM-SafetyBench {variant}")


MMSAFETY = MmSafety()
