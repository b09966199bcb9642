"""MOSSBench behind the Suite protocol: over-refusal on benign items, by stimulus type."""

from __future__ import annotations

from pathlib import Path

from ctxsafe.images import ImageStore
from ctxsafe.suites.benchmark import BenchmarkSuite, Loaded, SuiteSpec
from ctxsafe.suites.mossbench.judge import PUBLISHED
from ctxsafe.suites.mossbench.loader import HF_DATASET, SUITE, load_mossbench


def _load(root: Path, setting: str, images: ImageStore) -> Loaded:
    cases, left_out = load_mossbench(root, setting, images)
    return Loaded(cases, {"left_out_no_image": left_out})


MOSSBENCH = BenchmarkSuite(SuiteSpec(
    name=SUITE, title="MOSSBench", shape="benign-only", hub=HF_DATASET, load=_load, published=PUBLISHED,
    summary="MOSSBench: benign image+question items that look risky (over-refusal), and harmful contrasts.",
    settings={
        "benign": "the benign items: over-refusal rate, by stimulus type (the published metric; benign-only)",
        "contrast": "the harmful contrast items alone: refusal and safe-response rates (unsafe-only)",
        "pairs": "benign and contrast items on the same image as safe/unsafe twins (paired)"},
    data_help=f"A MOSSBench folder (benign.json, contrast.json, images/) or hf://{HF_DATASET}."))
