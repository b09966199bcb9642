"""MOSSBench behind the Suite protocol: over-refusal on benign items, by stimulus type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import typer

from ctxsafe.errors import ConfigError
from ctxsafe.images import ImageStore
from ctxsafe.suites.hub import local_or_hub
from ctxsafe.suites.mossbench.loader import HF_DATASET, SETTINGS, SUITE, load_mossbench
from ctxsafe.suites.protocol import CommonOptions, Prepared, ScoringShape, SuiteOption
from ctxsafe.suites.shaped import ShapedSuite, gen_params


class MossBench(ShapedSuite):
    name = SUITE
    summary = "MOSSBench: benign image+question items that look risky (over-refusal), and harmful contrasts."
    shape: ScoringShape = "benign-only"
    settings: ClassVar[Mapping[str, str]] = {
        "benign": "the benign items: over-refusal rate, by stimulus type (the published metric; benign-only)",
        "contrast": "the harmful contrast items alone: refusal and safe-response rates (unsafe-only)",
        "pairs": "benign and contrast items on the same image as safe/unsafe twins (paired)"}
    data_help = f"A MOSSBench folder (benign.json, contrast.json, images/) or hf://{HF_DATASET}."
    options = (SuiteOption("setting", Annotated[str, typer.Option(help=f"One of {', '.join(SETTINGS)}.")],
                           "benign"),)
    title = "MOSSBench"

    def prepare(self, common: CommonOptions, extra: dict[str, Any], images: ImageStore) -> Prepared:
        params = gen_params(common, SUITE)
        setting = str(extra["setting"])
        if setting not in SETTINGS:
            raise ConfigError(f"--setting must be one of {', '.join(SETTINGS)}")
        assert common.data is not None
        cases, left_out = load_mossbench(local_or_hub(common.data, HF_DATASET), setting, images)
        identity = {"data": common.data, "setting": setting, "left_out_no_image": left_out}
        return Prepared(cases=cases, setting=setting, params=params, identity=identity,
                        title=f"MOSSBench, setting {setting}")


MOSSBENCH = MossBench()
