"""Fit the learned offline MTMCS judges on the frozen train (and dev) split and write their weights.

Needs scikit-learn (`ctxsafe[train]`) and the embedder (`ctxsafe[judge]`). Test records are dropped by
id before any text is used. The score model is fitted on out-of-fold turn probabilities (5 folds by
dialogue), so it learns from turn predictions as noisy as the ones it will see. Choices made on dev
(C=1 for turns, ridge alpha 3 for scores)::

    python -m ctxsafe.judges.learned_scores_train labels/mtmcs/author_A.jsonl labels/mtmcs/author_B.jsonl \
        --fit train+dev --out src/ctxsafe/judges/mtmcs_learned_embed.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GroupKFold

from ctxsafe.judges.embedder import EMBEDDER
from ctxsafe.judges.learned_scores import TURN_LABELS, ScoreModel, score_features, turn_features
from ctxsafe.judges.learned_train import training_rows
from ctxsafe.judges.split import SEED as SPLIT_SEED

SEED = 0
TURN_C = 1.0
SCORE_ALPHA = 3.0
VERSION = "mtmcs-learned-v1-embed"


def _turn_classifier() -> LogisticRegression:
    return LogisticRegression(C=TURN_C, max_iter=5000, class_weight="balanced", random_state=SEED)


def _probs(clf: LogisticRegression, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    p = np.zeros((len(x), len(TURN_LABELS)))
    p[:, clf.classes_] = clf.predict_proba(x)
    return p


def fit(rows: list[dict[str, Any]]) -> ScoreModel:
    xs = [turn_features(r["replies"], r["turns"]) for r in rows]
    x = np.vstack(xs)
    y = np.array([TURN_LABELS.index(lab) for r in rows for lab in r["turn_labels"]])
    groups = np.repeat(np.arange(len(rows)), [len(r["replies"]) for r in rows])
    oof = np.zeros((len(y), len(TURN_LABELS)))
    for a, b in GroupKFold(5).split(x, y, groups):
        oof[b] = _probs(_turn_classifier().fit(x[a], y[a]), x[b])
    turn = _turn_classifier().fit(x, y)
    assert list(turn.classes_) == [0, 1, 2], "every turn label needs training examples"
    start = np.cumsum([0] + [len(r["replies"]) for r in rows])
    s = np.vstack([score_features(r["kind"], r["replies"], oof[start[i]:start[i + 1]]) for i, r in enumerate(rows)])
    score = Ridge(alpha=SCORE_ALPHA).fit(s, [int(r["score"]) for r in rows])
    ids = sorted(str(r["id"]) for r in rows)
    meta = {"seed": SEED, "turn_C": TURN_C, "score_alpha": SCORE_ALPHA, "split_seed": SPLIT_SEED,
            "embedder": EMBEDDER, "records": len(rows),
            "ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(), "ids": ids}
    return ScoreModel(turn.coef_, turn.intercept_, score.coef_, float(score.intercept_), VERSION, meta)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ctxsafe.judges.learned_scores_train", description=__doc__)
    parser.add_argument("labels", type=Path, nargs="+", help="the project's MTMCS label files")
    parser.add_argument("--fit", choices=["train", "train+dev"], default="train")
    parser.add_argument("--out", type=Path, required=True, help="write the weights here (JSON)")
    args = parser.parse_args(argv)
    model = fit(training_rows(args.labels, {"train"} if args.fit == "train" else {"train", "dev"}))
    args.out.write_text(json.dumps(model.to_json(), separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"fitted on {model.meta['records']} dialogues; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
