"""SIUO behind the Suite protocol: safe image + safe text, unsafe together (unsafe-only)."""

from __future__ import annotations

from ctxsafe.suites.benchmark import BenchmarkSuite, SuiteSpec
from ctxsafe.suites.siuo.judge import PUBLISHED
from ctxsafe.suites.siuo.loader import FILE, HF_DATASET, SUITE, load_siuo

SIUO = BenchmarkSuite(SuiteSpec(
    name=SUITE, title="SIUO", shape="unsafe-only", hub=HF_DATASET, published=PUBLISHED,
    load=lambda root, setting, images: load_siuo(root, images),
    summary="SIUO: a safe image and a safe question whose combination is unsafe (generation split).",
    settings={"gen": "open generation; the judge sees each item's safety warning and reference answer"},
    data_help=f"A SIUO folder ({FILE} and images/, at the root or under data/) or hf://{HF_DATASET}."))
