"""CoSafe behind the Suite protocol: multi-turn coreference attacks, earlier turns replayed."""

from __future__ import annotations

from ctxsafe.suites.benchmark import BenchmarkSuite, SuiteSpec
from ctxsafe.suites.cosafe.judge import PUBLISHED
from ctxsafe.suites.cosafe.loader import SUITE, load_cosafe, load_single

COSAFE = BenchmarkSuite(SuiteSpec(
    name=SUITE, title="CoSafe", shape="unsafe-only", published=PUBLISHED,
    load=lambda root, setting, images: load_single(root) if setting == "single" else
    load_cosafe(root, replay=setting == "replayed"),
    summary="CoSafe: multi-turn coreference attacks; fixed earlier turns replayed, the final turn answered.",
    settings={"replayed": "earlier user and assistant turns replayed verbatim; the model answers the final "
                          "attack turn (the paper's protocol)",
              "generated": "the model answers every user turn itself; each reply judged (per-turn rates)",
              "single": "the release's Single Prompt baselines: each harmful request alone, in one turn (what "
                        "the paper compares the coreference attacks with)"},
    data_help="The CoSafe repository root (or its `CoSafe datasets` folder, or for --setting single its `Single "
              "Prompt` folder, or one file): per-category files, one dialogue or prompt per line."))
