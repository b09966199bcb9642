"""MM-SafetyBench behind the Suite protocol: query-relevant images, one variant or all (unsafe-only)."""

from __future__ import annotations

from ctxsafe.suites.benchmark import BenchmarkSuite, SuiteSpec
from ctxsafe.suites.mmsafety.judge import PUBLISHED
from ctxsafe.suites.mmsafety.loader import SUITE, load_mmsafety

MMSAFETY = BenchmarkSuite(SuiteSpec(
    name=SUITE, title="MM-SafetyBench", shape="unsafe-only", published=PUBLISHED,
    load=load_mmsafety,
    summary="MM-SafetyBench: harmful key phrases moved into query-relevant images (SD, TYPO, SD+TYPO).",
    settings={
        "sd_typo": "the SD image with the key phrase typeset below it, with the rephrased question",
        "sd": "Stable Diffusion image of the key phrase, with the SD rephrased question",
        "typo": "the key phrase typeset as an image, with the rephrased question",
        "all": "the three variants in one run: attack success rate per scenario and per variant"},
    data_help="An MM-SafetyBench folder (processed_questions/*.json and imgs/<scenario>/<variant>/)."))
