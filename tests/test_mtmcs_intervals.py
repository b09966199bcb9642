"""MTMCS intervals are clustered by row: a row's variant images and the questions on one transcript are
not independent evidence, so they must not narrow the interval as if they were."""

from __future__ import annotations

from ctxsafe.engine.rollout import probe_step, turn_step
from ctxsafe.images import ImageStore
from ctxsafe.metrics.stats import cluster_mean_ci, clustered_wilson, wilson
from ctxsafe.schema import Case, Judgement, TurnRecord
from ctxsafe.suites.mtmcs.demo import demo_data
from ctxsafe.suites.mtmcs.judge import final_step
from ctxsafe.suites.mtmcs.loader import LoadOptions, build_cases
from ctxsafe.suites.mtmcs.metrics import Tally, row_cluster


def _turn(case: Case, step: str, response: str) -> TurnRecord:
    return TurnRecord(run_id="r", case_id=case.id, step=step, index=0, request_hash="h", response=response,
                      outcome="ok", finish_reason="stop")


def _played(cases: list[Case], score_of_row: dict[str, float], right_row: set[str]
            ) -> tuple[dict[tuple[str, str], TurnRecord], dict[tuple[str, str], Judgement]]:
    """Every dialogue complete; its score and its answers' correctness depend only on its row, so variant
    images and a transcript's questions move together, the case clustering exists for."""
    turns: dict[tuple[str, str], TurnRecord] = {}
    scores: dict[tuple[str, str], Judgement] = {}
    for case in cases:
        row = row_cluster(case)
        for i in range(len(case.turns)):
            turns[(case.id, turn_step(i))] = _turn(case, turn_step(i), "reply")
        for probe in case.probes:
            if probe.kind == "mcq":
                letters = [chr(ord("A") + i) for i in range(len(probe.options))]
                answer = str(probe.gold) if row in right_row else next(x for x in letters if x != probe.gold)
            else:
                answer = str(probe.gold if row in right_row else not probe.gold)
            turns[(case.id, probe_step(probe))] = _turn(case, probe_step(probe), f"Answer: {answer}")
        scores[(case.id, final_step(case))] = Judgement(
            run_id="r", case_id=case.id, step=final_step(case), judge_id="j", prompt_version="v",
            score=score_of_row[row], parse_status="ok")
    return turns, scores


def test_variant_images_of_a_row_are_one_cluster_and_widen_the_interval() -> None:
    cases = build_cases(demo_data(), LoadOptions(splits=("type_a",), modalities=("image",), variants=True),
                        ImageStore())
    rows = sorted({row_cluster(c) for c in cases})
    assert len(rows) == 5
    score_of_row = dict(zip(rows, (1.0, 2.0, 4.0, 5.0, 5.0), strict=True))
    right_row = set(rows[:2])
    turns, scores = _played(cases, score_of_row, right_row)
    tally = Tally()
    tally.add(cases, turns, scores)  # as the results read a run, here in one chunk
    groups = tally.result(faithful=False)
    variants = groups["type_a/image/variants"]
    assert variants["pairs"] == 15  # 5 rows x 3 variant images
    unsafe_cases = [c for c in cases if c.setting == "variant" and c.context == "unsafe"]
    block = variants["safety_awareness"]
    assert (block["scored"], block["clusters"], block["small"]) == (15, 5, True)
    expected = cluster_mean_ci([score_of_row[row_cluster(c)] for c in unsafe_cases],
                               [row_cluster(c) for c in unsafe_cases], bounds=(1.0, 5.0))
    assert (block["mean"], *block["ci95"]) == expected[:3]
    # treating the 15 dialogues as independent would give a narrower interval than the 5 rows support
    naive = cluster_mean_ci([score_of_row[row_cluster(c)] for c in unsafe_cases], [c.id for c in unsafe_cases],
                            bounds=(1.0, 5.0))
    assert block["ci95"][1] - block["ci95"][0] > naive[2] - naive[1]
    acc = variants["unsafe_tf"]
    outcomes = [(int(row_cluster(c) in right_row), row_cluster(c)) for c in unsafe_cases
                for p in c.probes if p.kind == "tf"]
    assert acc["n"] == len(outcomes) and acc["clusters"] == 5
    assert tuple(acc["ci95"]) == clustered_wilson([o for o, _ in outcomes], [r for _, r in outcomes])
    k = sum(o for o, _ in outcomes)
    lo, hi = wilson(k, len(outcomes))
    assert acc["ci95"][0] < lo and acc["ci95"][1] > hi  # wider than the independent Wilson, still in [0, 1]
    assert acc["ci95"][0] >= 0.0 and acc["ci95"][1] <= 1.0


def test_original_images_cluster_by_row_across_modalities() -> None:
    cases = build_cases(demo_data(), LoadOptions(splits=("type_b",), modalities=("image", "text")), ImageStore())
    by_row: dict[str, set[str]] = {}
    for c in cases:
        by_row.setdefault(row_cluster(c), set()).add(c.pair_id)
    # the image and the text-only pair of a row share the row's cluster; rows of another type do not
    assert len(by_row) == 5 and all(len(p) == 2 for p in by_row.values())
    assert all(r.startswith("type_b-") for r in by_row)
