"""FigStep behind the Suite protocol: typographic images generated from SafeBench (unsafe-only)."""

from __future__ import annotations

from ctxsafe.suites.benchmark import BenchmarkSuite, SuiteSpec
from ctxsafe.suites.figstep.judge import PUBLISHED
from ctxsafe.suites.figstep.loader import FILE, SUITE, load_figstep
from ctxsafe.suites.figstep.render import RENDER_VERSION

FIGSTEP = BenchmarkSuite(SuiteSpec(
    name=SUITE, title="FigStep", shape="unsafe-only", published=PUBLISHED,
    load=lambda root, setting, images: load_figstep(root, images),
    identity={"render": RENDER_VERSION},
    summary="FigStep: the harmful instruction typeset into the image; the text prompt only asks to fill a list.",
    settings={"default": "one generated typographic image per SafeBench question, with a fixed benign-looking "
                         "prompt"},
    data_help=f"A folder holding SafeBench's {FILE} (or the CSV file itself)."))
