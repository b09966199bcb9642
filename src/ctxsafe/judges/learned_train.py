"""Train the learned offline MSSBench judge on training data only and write its weights.

Why a script in the package: the shipped figure must be reproducible from the labels, the seed and
this code alone. It needs scikit-learn (`pip install 'ctxsafe[train]'`); applying the weights does
not. It never reads the frozen test split of the project's labels (authors A and B): those records are
dropped by id before any text is loaded into the training set, and nothing here prints a record's text.
Former holdouts (authors C, D, E, F, H, I and, for MSSBench, J from round 8, K from round 9 and L from round 10) and
author M (written as training data, never a holdout) are trained on whole (`--whole`); the label files are named on
the command line, never globbed, and the current holdout (author N, `HOLDOUT_AUTHORS`) is refused by file name and by
record. The embedding judge's weights carry a second stage (`--second-stage`, judges/boundary.py) from round 9; the
`offline-lm` weights (round 10) add Gemma 3 270M's hidden states to both stages (`--lm`, judges/lm_states.py).

Reproduce the shipped weights (choices made by the grouped cross-validation below; docs/judges.md)::

    python -m ctxsafe.judges.learned_train labels/mssbench/author_A.jsonl labels/mssbench/author_B.jsonl \
        --whole labels/mssbench/author_C.jsonl --whole labels/mssbench/author_D.jsonl \
        --whole labels/mssbench/author_E.jsonl --whole labels/mssbench/author_F.jsonl \
        --whole labels/mssbench/author_H.jsonl --whole labels/mssbench/author_I.jsonl \
        --whole labels/mssbench/author_J.jsonl --whole labels/mssbench/author_K.jsonl \
        --whole labels/mssbench/author_L.jsonl --whole labels/mssbench/author_M.jsonl \
        --extra tests/data/mssbench_judge_labels.jsonl --fit train+dev \
        [--embed --second-stage [--lm]] --out src/ctxsafe/judges/mss4_learned[_embed|_lm].json

Compare configurations without reading test (cross-validation over the same records, folds grouped by
scene, the extra labels always in training): the same command with `--cv 5` instead of `--out ...`
(`--fold-seed N` for another assignment of scenes to folds); it prints the figures overall and by each
record's `author`, so annotators' conventions show.

Cross-author figure (fit on one author's train+dev, score the other author's test records)::

    python -m ctxsafe.judges.learned_train labels/mssbench/author_A.jsonl \
        --extra tests/data/mssbench_judge_labels.jsonl --fit train+dev \
        --evaluate labels/mssbench/author_B.jsonl --split test
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from ctxsafe.judges.boundary import SecondStage, second_stage_features
from ctxsafe.judges.embedder import EMBEDDER, embed_with_sentences, sentence_max
from ctxsafe.judges.evaluation import score_view
from ctxsafe.judges.four_class import CORRECT_LABELS
from ctxsafe.judges.labelled import MSS_NAMES
from ctxsafe.judges.learned import VECTORIZER_ARGS, CharTfidf, LearnedModel, classify_learned, shape_features
from ctxsafe.judges.lm_states import LM_NAME, LM_SHA256, LMColumns, fit_columns, lm_states
from ctxsafe.judges.split import SEED as SPLIT_SEED
from ctxsafe.judges.split import split_of

SEED = 0
C = 4.0
MIN_DF = 2
VERSION = "learned-v1"
EMBED_VERSION = "learned-v3-embed"
STAGE2_VERSION = "learned-v4-embed"
"""The embedding judge's version when its weights carry the second stage (judges/boundary.py)."""
EMBED_WEIGHT = 4.0
"""Scale of the sentence embedding beside the sparse features (chosen on dev: 3 to 8 gave the same figures)."""
SENTENCE_WEIGHT = 4.0
"""Scale of the maximum of the reply's sentence embeddings, added with the embedding (chosen by grouped CV,
docs/judges.md: kappa 0.843 against 0.831 without it)."""
STAGE2_C = 1.0
CUE_WEIGHT = 2.0
"""The second stage (`--second-stage`): its regularisation and the scale of its cue columns beside the embeddings
(the round-8 exploration's values, docs/judges.md)."""
LM_VERSION = "learned-v5-lm"
"""The `offline-lm` judge's weights: the round-9 embedding judge plus the language model's columns in both stages."""
LM_WEIGHT = 4.0
LM_STAGE2_WEIGHT = 2.0
"""Scales of the language model's unit-length columns in the four-class and the 1-vs-2 model (grouped CV, round 10)."""
HOLDOUT_AUTHORS: Final = ("N",)
"""Authors whose labels are the current independent holdout (labels/README.md): never trained on, in any split.

Why a guard and not only the command line: a path typed wrong (a `--whole` of the holdout) would silently spend
the holdout; its file is refused by name before it is read, and its records by `author` or id prefix."""


def refuse_holdout(paths: Sequence[Path] = (), rows: Sequence[dict[str, Any]] = ()) -> None:
    """Raise if a holdout author's label file (`author_L.jsonl`) or one of its records is about to be trained on."""
    for path in paths:
        if path.name in {f"author_{a}.jsonl" for a in HOLDOUT_AUTHORS}:
            raise ValueError(f"{path} is the independent holdout's label file: never trained on")
    for r in rows:
        if str(r.get("author")) in HOLDOUT_AUTHORS or str(r["id"]).startswith(tuple(f"{a}-" for a in HOLDOUT_AUTHORS)):
            raise ValueError(f"record {r['id']} belongs to the independent holdout: never trained on")


def read_rows(path: Path) -> list[dict[str, Any]]:
    """A label file's records as plain dicts (the trainers need no validation beyond the fields they read)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def training_rows(paths: Sequence[Path], splits: set[str], whole: Sequence[Path] = ()) -> list[dict[str, Any]]:
    """Records of the chosen splits of the project's labels, plus every record of the `whole` files; the
    test split is refused.

    Why `whole`: a label file that was a holdout once (author C) and has been read as such becomes training
    data in full; its hash split means nothing, because its figures were never the frozen test split's."""
    if "test" in splits:
        raise ValueError("the test split is never used for training")
    kept = [r for p in paths for r in read_rows(p) if split_of(str(r["id"])) in splits]
    return kept + [r for p in whole for r in read_rows(p)]


def embeddings(responses: list[str], embed_weight: float,
               rows: tuple[np.ndarray[Any, Any], list[np.ndarray[Any, Any]]] | None = None) -> np.ndarray[Any, Any]:
    """The dense columns after the shape features: the scaled reply embedding and the scaled maximum of its
    sentences' embeddings (none without `embed_weight`), in the order `LearnedModel` applies them."""
    if not embed_weight:
        return np.zeros((len(responses), 0))
    reply, per_sentence = rows or embed_with_sentences(responses)
    return np.hstack([reply * embed_weight, sentence_max(per_sentence) * SENTENCE_WEIGHT])


def features(vectorizer: TfidfVectorizer, responses: list[str], queries: list[str],
             embed_weight: float = 0.0, embedded: np.ndarray[Any, Any] | None = None) -> csr_matrix:
    """The training matrix: the n-gram tf-idf columns, the shape features, then the embedding columns
    (`embedded`, if the rows were embedded already)."""
    dense = embeddings(responses, embed_weight) if embedded is None else embedded
    return hstack([vectorizer.transform(responses), csr_matrix(shape_features(responses, queries)),
                   csr_matrix(dense)]).tocsr()


def _four_class(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=5000, class_weight="balanced", random_state=SEED)


def fit_second_stage(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> SecondStage:
    """The 1-vs-2 model on the records labelled 1 or 2 (`x`: their `second_stage_features`)."""
    keep = np.isin(y, (1, 2))
    clf = LogisticRegression(C=STAGE2_C, max_iter=5000, class_weight="balanced", random_state=SEED)
    clf.fit(x[keep], y[keep])
    return SecondStage(coef=clf.coef_[0], intercept=float(clf.intercept_[0]), cue_weight=CUE_WEIGHT)


def dense_columns(responses: list[str], queries: list[str], embed_weight: float, second_stage: bool = False,
                  lm: bool = False) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None, LMColumns | None]:
    """The dense columns of both models, in the order `LearnedModel` applies them: the four-class model's (after the
    n-grams and shape: embeddings, then the language model's), the 1-vs-2 model's (None without `second_stage`), and
    the language model's standardisation, fitted on these records (None without `lm`)."""
    embedded = embed_with_sentences(responses) if embed_weight else None
    cols, lm_x = None, np.zeros((len(responses), 0))
    if lm:
        states = lm_states(responses, queries)
        cols = fit_columns(states, LM_WEIGHT, LM_STAGE2_WEIGHT)
        lm_x = cols.columns(states)
    dense = np.hstack([embeddings(responses, embed_weight, embedded), lm_x * LM_WEIGHT])
    z = (np.hstack([second_stage_features(responses, *embedded, CUE_WEIGHT), lm_x * LM_STAGE2_WEIGHT])
         if second_stage and embedded is not None else None)
    return dense, z, cols


def fit(project: list[dict[str, Any]], extra: list[dict[str, Any]], c: float = C,
        embed_weight: float = 0.0, second_stage: bool = False, lm: bool = False) -> LearnedModel:
    """Fit on the project's train(+dev) records plus older extra labels (never a holdout author's); the ids are
    recorded. `second_stage` (with `embed_weight`) also fits the 1-vs-2 model on the same records; `lm` (with both)
    adds the language model's hidden states to both models."""
    if second_stage and not embed_weight:
        raise ValueError("the second stage reads the embeddings: it needs embed_weight")
    if lm and not second_stage:
        raise ValueError("the language model's columns join both stages: lm needs second_stage")
    rows = project + extra
    refuse_holdout(rows=rows)
    responses = [str(r["response"]) for r in rows]
    queries = [str(r.get("query", "")) for r in rows]
    y = np.array([int(r["label"]) for r in rows])
    vec = TfidfVectorizer(min_df=MIN_DF, **VECTORIZER_ARGS)
    vec.fit(responses)
    dense, z, cols = dense_columns(responses, queries, embed_weight, second_stage, lm)
    clf = _four_class(c).fit(features(vec, responses, queries, embed_weight, dense), y)
    stage2 = fit_second_stage(z, y) if z is not None else None
    ids = sorted(str(r["id"]) for r in project)
    meta = {"seed": SEED, "C": c, "min_df": MIN_DF, "split_seed": SPLIT_SEED, "records": len(rows),
            "extra_records": len(extra), "ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
            "ids": ids}
    if embed_weight:
        meta["embedder"] = EMBEDDER
    if cols is not None:
        meta |= {"lm": LM_NAME, "lm_sha256": LM_SHA256}
    version = LM_VERSION if cols else STAGE2_VERSION if stage2 else EMBED_VERSION if embed_weight else VERSION
    return LearnedModel(vectorizer=CharTfidf(dict(vec.vocabulary_), vec.idf_), coef=clf.coef_, intercept=clf.intercept_,
                        classes=tuple(int(k) for k in clf.classes_), version=version, meta=meta,
                        embed_weight=embed_weight, sentence_weight=SENTENCE_WEIGHT if embed_weight else 0.0,
                        second_stage=stage2, lm=cols)


def grouped_folds(groups: Sequence[str], folds: int, seed: int = SEED) -> np.ndarray[Any, Any]:
    """Each record's fold: whole groups (a scene, a scenario) dealt to folds in a seeded order, so a group's
    siblings never sit on both sides of a split. Another `seed` is another assignment (the spread of a CV figure)."""
    order = {g: i for i, g in enumerate(np.random.default_rng(seed).permutation(sorted(set(groups))))}
    return np.array([order[g] % folds for g in groups])


def cross_validate(project: list[dict[str, Any]], extra: list[dict[str, Any]], embed_weight: float = 0.0,
                   folds: int = 5, fold_seed: int = SEED, second_stage: bool = False,
                   lm: bool = False) -> dict[str, Any]:
    """Out-of-fold predictions for the project's records, folds grouped by scene (a scene's responses share
    a fold, so no sibling leaks), the extra labels always in training; figures only, as in `main`. With
    `second_stage`, each fold's 1-vs-2 model decides the held records its four-class model reads 1 or 2; with `lm`,
    both also read the language model's columns (standardised once over all the records: no label is used).

    Why: model and feature choices are made here, inside train+dev, so test and holdout stay unread."""
    rows = project + extra
    refuse_holdout(rows=rows)
    responses = [str(r["response"]) for r in rows]
    queries = [str(r.get("query", "")) for r in rows]
    y = np.array([int(r["label"]) for r in rows])
    dense, z, _ = dense_columns(responses, queries, embed_weight, second_stage, lm)
    fold_of = grouped_folds([str(r.get("scene") or r["id"]) for r in project], folds, fold_seed)
    pred = np.zeros(len(project), dtype=int)
    for k in range(folds):
        train = np.r_[np.flatnonzero(fold_of != k), np.arange(len(project), len(rows))]
        vec = TfidfVectorizer(min_df=MIN_DF, **VECTORIZER_ARGS).fit([responses[i] for i in train])
        x = features(vec, responses, queries, embed_weight, dense)
        clf = _four_class(C).fit(x[train], y[train])
        held = np.flatnonzero(fold_of == k)
        pred[held] = clf.predict(x[held])
        if z is not None:
            stage2 = fit_second_stage(z[train], y[train])
            ones = held[np.isin(pred[held], (1, 2))]
            pred[ones] = stage2.decide(z[ones])[0]
    labels = [int(p) for p in pred]
    by_author = {a: _figures([project[i] for i in idx], [labels[i] for i in idx])
                 for a, idx in author_groups(project).items()}
    return _figures(project, list(labels)) | {"by_author": by_author}


def author_groups(rows: Sequence[dict[str, Any]]) -> dict[str, list[int]]:
    """Record indices by their `author` field ("?" where absent), in sorted order: annotators' conventions differ
    (what counts as risk-aware), so a CV figure is read per author as well as pooled."""
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(str(r.get("author") or "?"), []).append(i)
    return dict(sorted(groups.items()))


def _figures(rows: list[dict[str, Any]], pred: list[int | None]) -> dict[str, Any]:
    """Agreement, binary agreement on "correct for its context", and per context the bias (judge minus human
    rate of correct, in points) that the judge would add to a reported accuracy."""
    gold = [int(r["label"]) for r in rows]
    view = score_view(gold, pred, [f"scene:{r.get('scene') or r['id']}" for r in rows], MSS_NAMES)
    ok = [CORRECT_LABELS[r["context"]] for r in rows]  # the suite's own rule, as judge-eval's binary view uses
    binary = float(np.mean([(g in o) == (p in o) for g, p, o in zip(gold, pred, ok, strict=True)]))
    sides = [str(r["context"]) for r in rows]
    judged = zip(gold, pred, ok, sides, strict=True)
    shifts = [(c, (p in o) - (g in o)) for g, p, o, c in judged]
    bias = {side: round(100 * float(np.mean([d for c, d in shifts if c == side])), 1)
            for side in ("safe", "unsafe") if side in sides}
    return {"n": view["n"], "accuracy": view["accuracy"], "kappa": view["kappa"], "binary": round(binary, 4),
            "recall": view["recall"], "bias": bias}


def _print(name: str, f: dict[str, Any]) -> None:
    print(f"{name}: n={f['n']} accuracy {f['accuracy']['value']} {f['accuracy']['ci95']} kappa "
          f"{f['kappa']['value']} {f['kappa']['ci95']} binary agreement {f['binary']:.4f} recall {f['recall']} "
          f"bias (points) {f['bias']}")
    for author, g in f.get("by_author", {}).items():
        print(f"  author {author}: n={g['n']} kappa {g['kappa']['value']} binary {g['binary']:.4f} recall "
              f"{g['recall']} bias {g['bias']}")


def to_json(model: LearnedModel) -> dict[str, Any]:
    vocab = {str(k): int(v) for k, v in sorted(model.vectorizer.vocabulary.items(), key=lambda kv: kv[1])}
    doc: dict[str, Any] = {"version": model.version, "meta": model.meta}
    if model.embed_weight:  # absent from the n-gram weights
        doc["embed_weight"] = model.embed_weight
        doc["sentence_weight"] = model.sentence_weight
    if model.second_stage is not None:
        doc["stage2"] = model.second_stage.to_json()
    if model.lm is not None:
        doc["lm"] = model.lm.to_json()
    return doc | {"classes": list(model.classes), "vocabulary": vocab,
                  "idf": [round(float(x), 6) for x in model.vectorizer.idf],
                  "coef": [[round(float(x), 6) for x in row] for row in model.coef],
                  "intercept": [round(float(x), 6) for x in model.intercept]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ctxsafe.judges.learned_train", description=__doc__)
    parser.add_argument("labels", type=Path, nargs="+", help="the project's MSSBench label files")
    parser.add_argument("--extra", type=Path, action="append", default=[],
                        help="older labels used as extra training data only (never for a figure)")
    parser.add_argument("--whole", type=Path, action="append", default=[],
                        help="label files trained on in full, every split (a former holdout, e.g. author C)")
    parser.add_argument("--fit", choices=["train", "train+dev"], default="train")
    parser.add_argument("--out", type=Path, help="write the weights here (JSON)")
    parser.add_argument("--evaluate", type=Path, action="append", default=[],
                        help="label file(s) to score the fitted model on (e.g. the other author's)")
    parser.add_argument("--split", choices=["dev", "test"], default="dev", help="split of --evaluate files")
    parser.add_argument("--embed", action="store_true",
                        help="also use the reply's sentence embedding (needs the `judge` extra)")
    parser.add_argument("--second-stage", action="store_true",
                        help="with --embed: also fit the 1-vs-2 model that decides where the first reads 1 or 2")
    parser.add_argument("--lm", action="store_true",
                        help="with --second-stage: also read Gemma 3 270M's hidden states (the `judge-lm` extra)")
    parser.add_argument("--cv", type=int, metavar="FOLDS",
                        help="only cross-validate inside the --fit records, folds grouped by scene; write nothing")
    parser.add_argument("--fold-seed", type=int, default=SEED, help="seed of the assignment of scenes to CV folds")
    args = parser.parse_args(argv)
    if args.second_stage and not args.embed:
        parser.error("--second-stage needs --embed")
    if args.lm and not args.second_stage:
        parser.error("--lm needs --embed --second-stage")
    splits = {"train"} if args.fit == "train" else {"train", "dev"}
    refuse_holdout([*args.labels, *args.whole, *args.extra])
    extra = [r for p in args.extra for r in read_rows(p)]
    project = training_rows(args.labels, splits, args.whole)
    if args.cv:
        _print(f"{args.cv}-fold CV grouped by scene over {args.fit}",
               cross_validate(project, extra, EMBED_WEIGHT if args.embed else 0.0, args.cv, args.fold_seed,
                              args.second_stage, args.lm))
        return 0
    if args.split == "dev" and args.evaluate and "dev" in splits:
        parser.error("--fit train+dev cannot be evaluated on dev")
    model = fit(project, extra, embed_weight=EMBED_WEIGHT if args.embed else 0.0, second_stage=args.second_stage,
                lm=args.lm)
    print(f"fitted on {model.meta['records']} records ({model.meta['extra_records']} extra)")
    if args.out is not None:
        args.out.write_text(json.dumps(to_json(model), ensure_ascii=False, separators=(",", ":")) + "\n",
                            encoding="utf-8")
        print(f"wrote {args.out}")
    if args.evaluate:  # figures only: no record's text is printed
        rows = [r for p in args.evaluate for r in read_rows(p) if split_of(str(r["id"])) == args.split]
        if seen := {str(r["id"]) for r in rows} & set(model.meta["ids"]):
            parser.error(f"{len(seen)} of the evaluated records were trained on")
        pred: list[int | None] = [classify_learned(str(r["response"]), str(r.get("query", "")), model).label
                                  for r in rows]
        _print(f"{args.split} split of {', '.join(map(str, args.evaluate))}", _figures(rows, pred))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
