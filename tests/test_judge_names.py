"""One set of judge names for `run`, `judge-eval` and `report` (judges/names.py): every offline name a
label space has works in `run` as in `judge-eval`, and an unknown name is one line naming the valid ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ctxsafe.cli import app
from ctxsafe.exit_codes import ExitCode

ROOT = Path(__file__).resolve().parents[1]
SIUO = ROOT / "tests" / "data" / "siuo"
VALID = ("none", "offline", "offline-learned", "offline-embed", "offline-rules", "provider:model")


def cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return res.exit_code, " ".join(res.output.split())


def run(tmp_path: Path, suite: str, judge: str, *more: str) -> tuple[int, str]:
    return cli("run", suite, "-m", "ref:always-refuse", "--judge", judge, "--store", str(tmp_path / "runs.sqlite"),
               "--out", str(tmp_path / "out"), "--no-progress", *more)


def stored_judges(tmp_path: Path) -> set[str]:
    docs = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("*.json")]
    return {ref["id"] for d in docs for ref in d["judges"].values() if ref}


@pytest.mark.parametrize(("suite", "more"), [("mtmcs", ("--limit", "1")), ("siuo", ("--data", str(SIUO))),
                                             ("mssbench", ("--limit", "1"))])
def test_an_unknown_judge_name_is_one_line_listing_the_valid_ones(tmp_path: Path, suite: str,
                                                                  more: tuple[str, ...]) -> None:
    code, out = run(tmp_path, suite, "offline-rulez", *more)
    assert code == ExitCode.BAD_INPUT
    assert "unknown judge 'offline-rulez'" in out and all(name in out for name in VALID)
    assert "Traceback" not in out and not (tmp_path / "runs.sqlite").exists()  # refused before anything ran


def test_offline_rules_is_accepted_by_run_in_every_label_space(tmp_path: Path) -> None:
    code, out = run(tmp_path / "m", "mtmcs", "offline-rules", "--limit", "1")
    assert code == ExitCode.OK, out
    assert stored_judges(tmp_path / "m") == {"mtmcs-score:offline-rules", "mtmcs-turn:offline-rules"}
    code, out = run(tmp_path / "s", "siuo", "offline-rules", "--data", str(SIUO))
    assert code == ExitCode.OK, out
    assert stored_judges(tmp_path / "s") == {"mss4:offline-rules", "siuo:offline-rules"}


def test_a_name_a_label_space_lacks_is_refused_alike_by_run_and_judge_eval(tmp_path: Path) -> None:
    code, out = run(tmp_path, "mtmcs", "offline-learned", "--limit", "1")
    assert code == ExitCode.BAD_INPUT and "MTMCS has no 'offline-learned' judge" in out
    assert "offline-rules" in out and "offline-embed" in out
    code, out = cli("judge-eval", "--labels", str(ROOT / "labels" / "mtmcs" / "author_A.jsonl"), "--judge",
                    "offline-learned", "--store", str(tmp_path / "eval.sqlite"))
    assert code == ExitCode.BAD_INPUT and "MTMCS has no 'offline-learned' judge" in out


def test_judge_eval_refuses_none_and_unknown_names_with_the_list(tmp_path: Path) -> None:
    labels = str(ROOT / "labels" / "mssbench" / "author_A.jsonl")
    for name in ("none", "rules"):
        code, out = cli("judge-eval", "--labels", labels, "--judge", name, "--store", str(tmp_path / "e.sqlite"))
        assert code == ExitCode.BAD_INPUT and f"unknown judge {name!r}" in out
        assert "offline-rules" in out and "provider:model" in out and "none," not in out


def test_report_picks_the_judge_by_the_same_name(tmp_path: Path) -> None:
    code, out = run(tmp_path, "mssbench", "offline-rules", "--limit", "1")
    assert code == ExitCode.OK, out
    run_id = json.loads(next((tmp_path / "out").glob("*.json")).read_text())["run_id"]
    code, out = cli("report", run_id, "--judge", "offline-rules", "--store", str(tmp_path / "runs.sqlite"),
                    "--out", str(tmp_path / "out"))
    assert code == ExitCode.OK and "mss4:offline-rules" in out
    code, out = cli("report", run_id, "--judge", "offline-embed", "--store", str(tmp_path / "runs.sqlite"),
                    "--out", str(tmp_path / "out"))
    assert code == ExitCode.BAD_INPUT and "no mss4 judgements by 'offline-embed'" in out
