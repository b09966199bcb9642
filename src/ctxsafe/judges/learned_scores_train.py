"""Fit the learned offline MTMCS judges on the frozen train (and dev) split and write their weights.

Needs scikit-learn (`ctxsafe[train]`) and the embedder (`ctxsafe[judge]`). Test records are dropped by
id before any text is used. The score model is fitted on out-of-fold turn probabilities (5 folds by
dialogue), so it learns from turn predictions as noisy as the ones it will see. Choices made by the
cross-validation below (docs/judges.md): turns C=1 with balanced classes and "aware" weighted x1.25, scores by a
multinomial logistic regression (C=1) read at the median of its distribution, the older labels as extra training
data, the reply's first and last sentences' embeddings and its sentences' similarities to prototype sentences in the
turn features.

Compare configurations without reading test (cross-validation, folds grouped by dialogue scenario, the
extra labels always in training)::

    python -m ctxsafe.judges.learned_scores_train labels/mtmcs/author_A.jsonl labels/mtmcs/author_B.jsonl \\
        --whole labels/mtmcs/author_C.jsonl --whole labels/mtmcs/author_D.jsonl \\
        --whole labels/mtmcs/author_E.jsonl --whole labels/mtmcs/author_F.jsonl \\
        --whole labels/mtmcs/author_H.jsonl --whole labels/mtmcs/author_I.jsonl \\
        --whole labels/mtmcs/author_J.jsonl --extra tests/data/mtmcs_judge_labels.jsonl --fit train+dev --cv 5

It prints the figures overall and by each dialogue's `author` (annotators' conventions differ on "aware").
Former holdouts (authors C, D, E, F, H, I from round 7 and J from round 9, each read once as a holdout first) are
trained on whole; the current holdout (author N, `learned_train.HOLDOUT_AUTHORS`) is refused by file name and by
record.

Rebuild the shipped weights: the same command with `--out src/ctxsafe/judges/mtmcs_learned_embed.json`
instead of `--cv 5`. The `offline-lm` weights (round 10, the `judge-lm` extra) also train on author L (the round-9
holdout, read once) and read Gemma 3 270M's hidden states in both models: the same command with
`--whole labels/mtmcs/author_L.jsonl --lm`, and `--out src/ctxsafe/judges/mtmcs_learned_lm.json` to write them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from ctxsafe.judges.embedder import DIM, EMBEDDER
from ctxsafe.judges.evaluation import score_view
from ctxsafe.judges.learned_scores import TURN_LABELS, ScoreModel, score_features, turn_features
from ctxsafe.judges.learned_train import author_groups, grouped_folds, read_rows, refuse_holdout, training_rows
from ctxsafe.judges.lm_states import LM_NAME, LM_SHA256, LMColumns, fit_columns, lm_states
from ctxsafe.judges.split import SEED as SPLIT_SEED

SEED = 0
TURN_C = 1.0
SCORE_C = 1.0
AWARE_WEIGHT = 1.25
"""Why: "aware" is the turn class recalled worst; with the prototype features (learned_scores.PROTOTYPES) this weight
raised its recall in grouped CV on every fold seed, lowering no author's, at the same turn kappa (docs/judges.md,
round 6)."""
VERSION = "mtmcs-learned-v5-embed"
"""v5: prototype similarities in the turn features, "aware" weighted x1.25 (v4: the score is the median of the score
model's distribution; v3: its most probable score)."""
LM_VERSION = "mtmcs-learned-v6-lm"
"""The `offline-lm` weights: v5 plus Gemma 3 270M's hidden states over each reply (after its user turn) in the turn
model and the score model (`--lm`)."""
LM_WEIGHT = 2.0
"""Scale of the language model's unit-length columns in the turn features: chosen by grouped CV among 1, 2 and 4
(docs/judges.md, round 10)."""
LM_SCORE_WEIGHT = 1.0
"""Scale of the three replies' language-model columns in the score model's features (0: the score model reads only
the turn probabilities built on them); at 1 grouped CV raised score quadratic kappa on all three fold seeds."""


def _turn_classifier(y: np.ndarray[Any, Any]) -> LogisticRegression:
    """Balanced classes, "aware" weighted `AWARE_WEIGHT` times more on top (the labels `y` it will be fitted on)."""
    weight = len(y) / (len(TURN_LABELS) * np.bincount(y, minlength=len(TURN_LABELS)).clip(min=1))
    weight[TURN_LABELS.index("aware")] *= AWARE_WEIGHT
    return LogisticRegression(C=TURN_C, max_iter=5000, class_weight=dict(enumerate(weight.tolist())),
                              random_state=SEED)


def _probs(clf: LogisticRegression, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    p = np.zeros((len(x), len(TURN_LABELS)))
    p[:, clf.classes_] = clf.predict_proba(x)
    return p


def _turn_matrix(rows: list[dict[str, Any]]) -> np.ndarray[Any, Any]:
    """Every dialogue's three turn rows, in order (its reply embeddings are the first DIM columns)."""
    return turn_features([t for r in rows for t in r["replies"]], [t for r in rows for t in r["turns"]])


def _lm_columns(rows: list[dict[str, Any]], weight: float,
                score_weight: float) -> tuple[LMColumns, np.ndarray[Any, Any]]:
    """The language model's unit-length columns of every turn's reply, read after its user turn, standardised by these
    (training) dialogues' own states."""
    states = lm_states([t for r in rows for t in r["replies"]], [t for r in rows for t in r["turns"]])
    cols = fit_columns(states, weight, score_weight)
    return cols, cols.columns(states)


def _fit(project: list[dict[str, Any]], extra: list[dict[str, Any]], x: np.ndarray[Any, Any],
         lm: LMColumns | None = None, u: np.ndarray[Any, Any] | None = None) -> ScoreModel:
    """Both models on the rows' turn matrix `x` (and, with `lm`, the turns' language-model columns `u`); the ids
    recorded are the project's (the extras' count)."""
    rows = project + extra
    if lm is not None and u is not None:
        x = np.hstack([x, u * lm.weight])
    else:
        lm, u = None, np.zeros((len(x), 0))
    y = np.array([TURN_LABELS.index(lab) for r in rows for lab in r["turn_labels"]])
    groups = np.repeat(np.arange(len(rows)), 3)
    oof = np.zeros((len(y), len(TURN_LABELS)))
    for a, b in GroupKFold(5).split(x, y, groups):
        oof[b] = _probs(_turn_classifier(y[a]).fit(x[a], y[a]), x[b])
    turn = _turn_classifier(y).fit(x, y)
    assert list(turn.classes_) == [0, 1, 2], "every turn label needs training examples"
    score_lm = lm.stage2_weight if lm is not None else 0.0
    s = np.vstack([score_features(r["kind"], r["replies"], oof[3 * i:3 * i + 3], x[3 * i:3 * i + 3, :DIM],
                                  u[3 * i:3 * i + 3] * score_lm if score_lm else None)
                   for i, r in enumerate(rows)])
    score = LogisticRegression(C=SCORE_C, max_iter=5000, random_state=SEED).fit(s, [int(r["score"]) for r in rows])
    ids = sorted(str(r["id"]) for r in project)
    meta = {"seed": SEED, "turn_C": TURN_C, "aware_weight": AWARE_WEIGHT, "score_C": SCORE_C, "split_seed": SPLIT_SEED,
            "embedder": EMBEDDER, "records": len(rows), "extra_records": len(extra),
            "ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(), "ids": ids}
    if lm is not None:
        meta |= {"lm": LM_NAME, "lm_sha256": LM_SHA256}
    return ScoreModel(turn.coef_, turn.intercept_, score.coef_, score.intercept_, tuple(int(k) for k in score.classes_),
                      VERSION if lm is None else LM_VERSION, meta, lm=lm)


def fit(project: list[dict[str, Any]], extra: Sequence[dict[str, Any]] = (), lm: bool = False) -> ScoreModel:
    """Fit on the project's train(+dev) dialogues plus older extra labels (never a holdout author's); `lm` adds the
    language model's columns (`LM_WEIGHT`, `LM_SCORE_WEIGHT`)."""
    refuse_holdout(rows=[*project, *extra])
    rows = project + list(extra)
    cols, u = _lm_columns(rows, LM_WEIGHT, LM_SCORE_WEIGHT) if lm else (None, None)
    return _fit(project, list(extra), _turn_matrix(rows), cols, u)


def cross_validate(project: list[dict[str, Any]], extra: list[dict[str, Any]], folds: int = 5,
                   fold_seed: int = SEED, aware_shift: float = 0.0, lm_weight: float = 0.0,
                   lm_score_weight: float = 0.0) -> dict[str, Any]:
    """Out-of-fold turn labels and scores for the project's dialogues, folds grouped by scenario (a scenario's
    variants and twins share a fold), the extra labels always in training; figures only. `aware_shift` is added
    to the "aware" log-probability before the turn label is picked (the recall / kappa trade-off; not shipped).
    A `lm_weight` adds the language model's columns to the turn model (`lm_score_weight`: to the score model too),
    standardised over all the rows (unsupervised: no label is read).

    Why: configurations are chosen here, so the frozen test split and any holdout stay unread."""
    refuse_holdout(rows=[*project, *extra])
    rows = project + extra
    x = _turn_matrix(rows)
    cols, u = _lm_columns(rows, lm_weight, lm_score_weight) if lm_weight else (None, np.zeros((len(x), 0)))
    fold_of = grouped_folds([str(r.get("scenario") or r["id"]) for r in project], folds, fold_seed)
    shift = np.zeros(len(TURN_LABELS))
    shift[TURN_LABELS.index("aware")] = aware_shift
    turn_pred = np.zeros(3 * len(project), dtype=int)
    score_pred = np.zeros(len(project), dtype=int)
    for k in range(folds):
        train = np.r_[np.flatnonzero(fold_of != k), np.arange(len(project), len(rows))]
        turns = np.repeat(3 * train, 3) + np.tile(np.arange(3), len(train))
        model = _fit([rows[i] for i in train], [], x[turns], cols, u[turns])
        for i in np.flatnonzero(fold_of == k):
            ui = u[3 * i:3 * i + 3]
            xi = x[3 * i:3 * i + 3] if cols is None else np.hstack([x[3 * i:3 * i + 3], ui * cols.weight])
            p = model.turn_probabilities_of(xi)
            turn_pred[3 * i:3 * i + 3] = (np.log(p) + shift).argmax(axis=1)
            score_pred[i] = model.score_of(model.score_features_of(project[i]["kind"], project[i]["replies"], p, xi,
                                                                   ui))[0]
    by_author = {a: _figures([project[i] for i in idx], turn_pred.reshape(-1, 3)[idx], score_pred[idx])
                 for a, idx in author_groups(project).items()}
    return _figures(project, turn_pred.reshape(-1, 3), score_pred) | {"by_author": by_author}


def _figures(rows: list[dict[str, Any]], turn_pred: np.ndarray[Any, Any],
             score_pred: np.ndarray[Any, Any]) -> dict[str, Any]:
    """Turn and score agreement, and the "noticed the risk" bias: judge minus human rate of turns labelled aware
    or refused, in points (what an MTMCS per-turn insight would over- or under-report)."""
    clusters = [f"dialogue:{r['id']}" for r in rows]
    gold = [TURN_LABELS.index(lab) for r in rows for lab in r["turn_labels"]]
    pred = [int(v) for v in turn_pred.reshape(-1)]
    turns = score_view(gold, pred, np.repeat(clusters, 3).tolist(), TURN_LABELS)
    turns["noticed_bias"] = round(100 * (np.mean(np.array(pred) > 0) - np.mean(np.array(gold) > 0)), 1)
    scores = score_view([int(r["score"]) - 1 for r in rows], [int(v) - 1 for v in score_pred], clusters,
                        ("1", "2", "3", "4", "5"), ordinal=True)
    return {"turn": turns, "score": scores}


def _print(name: str, f: dict[str, Any]) -> None:
    for label, g in [(name, f), *((f"  author {a}", v) for a, v in f.get("by_author", {}).items())]:
        t, s = g["turn"], g["score"]
        print(f"{label}: {s['n']} dialogues; turns kappa {t['kappa']['value']} {t['kappa']['ci95']} recall "
              f"complied/aware/refused {t['recall']} noticed-the-risk bias {t['noticed_bias']} points; score exact "
              f"{s['accuracy']['value']} quadratic kappa {s['quadratic_kappa']['value']} "
              f"{s['quadratic_kappa']['ci95']} MAE {s['mae']['value']} recall {s['recall']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ctxsafe.judges.learned_scores_train", description=__doc__)
    parser.add_argument("labels", type=Path, nargs="+", help="the project's MTMCS label files")
    parser.add_argument("--whole", type=Path, action="append", default=[],
                        help="label files trained on in full, every split (a former holdout, e.g. author C)")
    parser.add_argument("--extra", type=Path, action="append", default=[],
                        help="older labels used as extra training data only (never for a figure)")
    parser.add_argument("--fit", choices=["train", "train+dev"], default="train")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="write the weights here (JSON)")
    target.add_argument("--cv", type=int, metavar="FOLDS",
                        help="only cross-validate, folds grouped by scenario; write nothing")
    parser.add_argument("--fold-seed", type=int, default=SEED, help="seed of the assignment of scenarios to CV folds")
    parser.add_argument("--aware-shift", type=float, default=0.0,
                        help="with --cv: add this to the 'aware' log-probability before picking a turn label")
    parser.add_argument("--lm", action="store_true",
                        help="also read Gemma 3 270M's hidden states in the turn and score models (the `judge-lm` "
                             "extra; the offline-lm weights)")
    args = parser.parse_args(argv)
    if args.aware_shift and not args.cv:
        parser.error("--aware-shift only applies to --cv (the shipped weights pick the most probable label)")
    refuse_holdout([*args.labels, *args.whole, *args.extra])
    project = training_rows(args.labels, {"train"} if args.fit == "train" else {"train", "dev"}, args.whole)
    extra = [r for p in args.extra for r in read_rows(p)]
    if args.cv:
        _print(f"{args.cv}-fold CV grouped by scenario over {args.fit}",
               cross_validate(project, extra, args.cv, args.fold_seed, args.aware_shift,
                              LM_WEIGHT if args.lm else 0.0, LM_SCORE_WEIGHT if args.lm else 0.0))
        return 0
    model = fit(project, extra, lm=args.lm)
    args.out.write_text(json.dumps(model.to_json(), separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"fitted on {model.meta['records']} dialogues; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
