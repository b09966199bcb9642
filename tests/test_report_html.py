"""The HTML report without a browser: self-contained, untrusted text never becomes markup, numbers agree."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ctxsafe.engine.store import RunStore
from ctxsafe.metrics.paired_tests import mcnemar
from ctxsafe.report.browser_data import RunRows
from ctxsafe.report.compare import compare_runs
from ctxsafe.report.html_page import build_html, embed_json
from ctxsafe.report.published import against_paper
from ctxsafe.report.run_view import load_view
from ctxsafe.suites.registry import get_suite
from tests.report_helpers import PLANTED, cli, demo_runs, two_runs


def test_embedded_json_cannot_close_its_script_element() -> None:
    value = {"reply": "</script><script>alert(1)</script><!-- \u2028 & done"}
    text = embed_json(value)
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == value


@pytest.fixture()
def runs(tmp_path: Path) -> list[RunRows]:
    store = tmp_path / "runs.sqlite"
    two_runs(store, 120)
    st = RunStore(store)
    return [RunRows.load(load_view(st, rid, suites=get_suite)) for rid in ("run-a", "run-b")]


def test_page_is_self_contained_and_planted_text_stays_data(runs: list[RunRows]) -> None:
    html = build_html(runs)
    data = html[html.index('<script id="ctxsafe-data"'):]
    data = data[data.index(">") + 1:data.index("</script>")]
    payload = json.loads(data)
    replies = {c["id"]: c["steps"][0]["reply"] for c in payload["cases"] if c["r"] == 0 and c["steps"]}
    assert replies["c00001"] == PLANTED[1].replace("{port}", "9")
    # Exactly our two script elements; no planted tag or handler reached the markup.
    assert len(re.findall(r"<script\b", html)) == 2
    for needle in ("window.__pwned", "onerror=", "javascript:", "<img src=x", "http://127.0.0.1:9"):
        assert needle not in html.replace(data, ""), needle
    # No network: nothing is loaded from anywhere, and the policy forbids it.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "default-src &#x27;none&#x27;; img-src data:;" in html


def test_compare_counts_match_a_direct_mcnemar(runs: list[RunRows]) -> None:
    (c,) = compare_runs(runs)
    scored = ("right", "wrong")
    both = [case for case in runs[0].cases if runs[0].view.outcomes[case.id] in scored
            and runs[1].view.outcomes[case.id] in scored]  # an error or a parse failure is left out, not wrong
    assert (c.cases, c.excluded) == (len(both), len(runs[0].cases) - len(both)) and c.excluded > 0
    a = [runs[0].view.outcomes[case.id] == "right" for case in both]
    b = [runs[1].view.outcomes[case.id] == "right" for case in both]
    want = mcnemar(a, b)
    assert c.mcnemar is not None
    assert (c.mcnemar.only_a, c.mcnemar.only_b, c.mcnemar.p_value) == (want.only_a, want.only_b, want.p_value)
    # disagreements also list a case one run got right and the other could not score (its reason shown)
    assert len(c.disagreements) >= want.only_a + want.only_b
    assert c.difference.value == pytest.approx((sum(b) - sum(a)) / len(a))
    lo, hi = c.difference.ci95
    assert lo <= c.difference.value <= hi


def test_published_numbers_sit_beside_a_matching_run_and_are_flagged() -> None:
    doc = {"suite": "mssbench", "setting": "if",
           "config": {"model_name": "openai:gpt-4o", "setting": "if"},
           "metrics": {"tasks": {"chat": {"safe": {"acc": 0.99, "ci95": [0.97, 1.0]},
                                          "unsafe": {"acc": 0.30, "ci95": [0.25, 0.35]},
                                          "avg": {"value": 0.645, "ci95": [0.62, 0.67]}}}}}
    got = {p.metric: p for p in against_paper(doc, get_suite("mssbench").paper_numbers())}
    assert got["chat safe accuracy"].published == 98.8 and got["chat safe accuracy"].outside is False
    assert got["chat unsafe accuracy"].ours == pytest.approx(30.0) and got["chat unsafe accuracy"].outside is True
    assert got["embodied average"].ours is None and got["embodied average"].outside is None
    other = {**doc, "config": {"model_name": "openai:gpt-4o", "defense": "self-reflection"}}
    assert against_paper(other, get_suite("mssbench").paper_numbers()) == []


def test_report_command_writes_html_for_several_runs(tmp_path: Path) -> None:
    store, ids = demo_runs(tmp_path)
    out = tmp_path / "report.html"
    output = cli("report", *ids, "--store", str(store), "--out", str(tmp_path / "out"), "--html", str(out))
    assert f"HTML report: {out}" in output
    html = out.read_text(encoding="utf-8")
    assert html.count('<circle class="point"') == len(ids)
    assert 'src="data:image' not in html  # thumbnails travel inside the JSON, set by the script
    payload = html[html.index('<script id="ctxsafe-data"'):]
    assert '"data:image/jpeg;base64,' in payload  # the demo's real images, as local thumbnails
    assert "Paired comparison" in html and "Per category" in html


def test_judge_agreement_from_judge_eval_sits_beside_the_judge(tmp_path: Path) -> None:
    """The offline judge's agreement measured on the project's human labels is shown in the headline. The dev split,
    not test: the frozen test split is read only by the lead, for the figures in docs/judges.md."""
    labels = sorted((Path(__file__).resolve().parent.parent / "labels" / "mssbench").glob("*.jsonl"))
    assert labels
    figures = tmp_path / "agreement.json"
    cli("judge-eval", *(a for p in labels[:1] for a in ("--labels", str(p))), "--split", "dev",
        "--store", str(tmp_path / "labels.sqlite"), "--json", str(figures))
    store, ids = demo_runs(tmp_path)
    out = tmp_path / "report.html"
    cli("report", ids[0], "--store", str(store), "--out", str(tmp_path / "out"), "--html", str(out),
        "--judge-eval", str(figures))
    html = out.read_text(encoding="utf-8")
    measured = json.loads(figures.read_text(encoding="utf-8"))
    view = next(iter(measured["views"].values()))
    assert f"n={view['n']} human labels (split dev), accuracy {100 * view['accuracy']['value']:.1f}" in html
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    from typer.testing import CliRunner

    from ctxsafe.cli import app

    res = CliRunner().invoke(app, ["report", ids[0], "--store", str(store), "--out", str(tmp_path / "out"),
                                   "--html", str(out), "--judge-eval", str(bad)])
    assert res.exit_code == 2 and "judge-eval --json" in res.output


def test_multi_turn_report_shows_per_turn_label_distributions(tmp_path: Path) -> None:
    store = tmp_path / "mtmcs.sqlite"
    cli("run", "mtmcs", "--model", "ref:keyword-filter", "--store", str(store), "--out", str(tmp_path / "out"),
        "--no-progress")
    st = RunStore(store)
    try:
        (rr,) = [RunRows.load(load_view(st, info.run_id, suites=get_suite)) for info in st.runs()]
    finally:
        st.close()
    from ctxsafe.report.summary import turn_labels

    dist = turn_labels(rr)
    assert {turn for _, turn in dist} == {1, 2, 3} and {ctx for ctx, _ in dist} == {"safe", "unsafe"}
    names = rr.view.suite.label_names(next(ref[0] for ref in rr.view.judges.values() if ref and "turn" in ref[0]))
    assert names and all(set(c) <= {*names, "(failed)", "(none)"} for c in dist.values())
    dialogues = {c.id for c in rr.cases}
    assert all(sum(c.values()) <= len(dialogues) for c in dist.values())  # one label per dialogue and turn
    html = build_html([rr])
    assert 'id="turns"' in html
