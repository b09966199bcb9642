"""VLSBench behind the Suite protocol: the risk is only in the image (unsafe-only)."""

from __future__ import annotations

from ctxsafe.suites.benchmark import BenchmarkSuite, SuiteSpec
from ctxsafe.suites.vlsbench.judge import PUBLISHED
from ctxsafe.suites.vlsbench.loader import FILE, HF_DATASET, SUITE, load_vlsbench

VLSBENCH = BenchmarkSuite(SuiteSpec(
    name=SUITE, title="VLSBench", shape="unsafe-only", hub=HF_DATASET, published=PUBLISHED,
    load=lambda root, setting, images: load_vlsbench(root, images),
    summary="VLSBench: harmless-looking instructions whose image carries the risk.",
    settings={"default": "the judge sees each item's image description and safety reason"},
    data_help=f"A VLSBench folder ({FILE} and imgs/) or hf://{HF_DATASET}."))
