"""XSTest behind the Suite protocol: over-refusal on safe prompts, refusal on their contrasts."""

from __future__ import annotations

from ctxsafe.suites.benchmark import BenchmarkSuite, SuiteSpec
from ctxsafe.suites.xstest.judge import PUBLISHED
from ctxsafe.suites.xstest.loader import FILE, HF_DATASET, SUITE, load_xstest

XSTEST = BenchmarkSuite(SuiteSpec(
    name=SUITE, title="XSTest", shape="benign-only", published=PUBLISHED, hub=HF_DATASET,
    load=lambda root, setting, images: load_xstest(root),
    summary="XSTest: text prompts that sound unsafe but are safe (over-refusal), with unsafe contrast prompts.",
    settings={"default": "safe prompts scored benign-only (over-refusal); contrast prompts scored unsafe-only"},
    data_help=f"An XSTest folder holding {FILE} (or the CSV file itself), a local hub copy (data/*.parquet), or "
              f"hf:// for the hub ({HF_DATASET})."))
