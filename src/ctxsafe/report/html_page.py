"""`ctxsafe report RUN... --html FILE`: one self-contained HTML file, safe to open and to share.

No network: the style, the script, the plot and the thumbnails are inline, and a Content-Security-Policy
allows only the page's own script (by nonce) and `data:` images, so nothing in a reply can run or fetch
anything. Inline styles are allowed: they come from our own markup, and with no network they cannot leak.
The cases travel as JSON inside a non-executable script element, with `<`, `>` and `&` escaped so no
string in the data can close that element; the page's script renders them a page at a time as text.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping, Sequence
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from ctxsafe.engine.bulk import gc_paused
from ctxsafe.report import html_sections as sec
from ctxsafe.report.browser_data import RunRows, browser_cases, case_images
from ctxsafe.report.compare import compare_runs
from ctxsafe.report.html_guards import guards_section
from ctxsafe.report.thumbnails import Thumbnails, data_roots

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def embed_json(value: Any) -> str:
    """JSON that is inert inside `<script type="application/json">`: no `</script>`, no `<!--`."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return "".join(_JSON_ESCAPES.get(ch, ch) for ch in text) if any(ch in text for ch in _JSON_ESCAPES) else text


def _asset(name: str) -> str:
    return resources.files("ctxsafe.report").joinpath("assets", name).read_text(encoding="utf-8")


def _thumbnails(runs: Sequence[RunRows], image_dirs: Sequence[Path], limit: int) -> Thumbnails:
    thumbs = Thumbnails(limit)
    for rr in runs:
        config = rr.view.info.config
        roots = data_roots(rr.view.suite, config.get("data"), image_dirs)
        for case in rr.cases:
            for part in case_images(case):
                thumbs.add(part, roots)
    return thumbs


def build_html(runs: Sequence[RunRows], image_dirs: Sequence[Path] = (), max_images: int = 2000,
               title: str | None = None, agreement: Mapping[tuple[str, str], list[str]] | None = None,
               guards: Sequence[Mapping[str, Any]] = ()) -> str:
    """The whole page as one string; `agreement` holds judges' measured agreement (`load_agreement`), `guards`
    the guard documents of the bare runs (`guards.report.guard_document`)."""
    with gc_paused():  # a record per case and step, no cycles: nothing for the collector to find
        return _page(runs, image_dirs, max_images, title, agreement, guards)


def _page(runs: Sequence[RunRows], image_dirs: Sequence[Path], max_images: int, title: str | None,
          agreement: Mapping[tuple[str, str], list[str]] | None, guards: Sequence[Mapping[str, Any]]) -> str:
    thumbs = _thumbnails(runs, image_dirs, max_images)
    comparisons = compare_runs(runs) if len(runs) > 1 and len({r.view.suite.name for r in runs}) == 1 else []
    names = {rr.view.run_id: f"{rr.view.name} ({rr.view.run_id})" for rr in runs}
    data = {"runs": [{"id": rr.view.run_id, "name": rr.view.name, "suite": rr.view.suite.name} for rr in runs],
            "cases": browser_cases(runs, thumbs.urls), "images": thumbs.urls}
    nonce = secrets.token_urlsafe(16)
    csp = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; "
           "base-uri 'none'; form-action 'none'")
    heading = title or "ctxsafe report: " + ", ".join(rr.view.run_id for rr in runs)
    image_note = (f"{len(thumbs.urls)} image thumbnails embedded; {len(thumbs.missing)} images not found locally"
                  + (f"; {len(thumbs.skipped)} more left out (--max-images)" if thumbs.skipped else "")
                  + ". Remote images are never fetched.")
    body = "".join([
        sec.headline_section(runs, agreement or {}), sec.published_section(runs), sec.plot_section(runs),
        sec.compare_section(comparisons, names),
        sec.breakdown_section(runs, "category", "Per category", "categories"),
        sec.breakdown_section(runs, "modality", "Image vs. text only", "modality"),
        sec.turns_section(runs), guards_section(guards, {rr.view.run_id: rr.view.suite.name for rr in runs}),
        sec.browser_section(runs), sec.config_section(runs),
    ])
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{escape(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(heading)}</title><style>{_asset('report.css')}</style>"
        f"</head><body><header><h1>{escape(heading)}</h1><p class=\"note\">Generated "
        f"{escape(time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()))} from the run store alone. "
        f"{escape(image_note)}</p><nav>"
        + "".join(f'<a href="#{a}">{t}</a> ' for a, t in (
            ("headline", "headline"), ("published", "paper"), ("tradeoff", "plot"), ("compare", "comparison"),
            ("categories", "categories"), ("turns", "per turn"), ("guards", "guards"), ("browser", "dialogues"),
            ("config", "configuration")))
        + f"</nav></header><main>{body}</main>"
        f'<script id="ctxsafe-data" type="application/json">{embed_json(data)}</script>'
        f'<script nonce="{nonce}">{_asset("report.js")}</script></body></html>'
    )


def write_html(path: Path, html: str) -> Path:
    """Write atomically, so a reader never opens half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
