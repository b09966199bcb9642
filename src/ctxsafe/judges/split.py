"""The frozen train / dev / test split of labelled judge data.

The split is a pure function of a record's id and a fixed seed, so records that land later fall
into their split without re-splitting anything, and nobody can move an item into train after
seeing how a judge does on it. Changing SEED or the cut points is a new split: every test figure
measured on the old one stops being comparable.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Split = Literal["train", "dev", "test"]
SPLITS: tuple[Split, ...] = ("train", "dev", "test")

SEED = "ctxsafe-judge-labels-v1"
# Buckets out of 100: [0, 60) train, [60, 80) dev, [80, 100) test.
_TRAIN_END = 60
_DEV_END = 80


def split_bucket(record_id: str, seed: str = SEED) -> int:
    """A stable bucket in [0, 100) from a keyed hash of the id (uniform, order-independent)."""
    digest = hashlib.sha256(f"{seed}\x00{record_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def split_of(record_id: str, seed: str = SEED) -> Split:
    """The split a labelled record belongs to: about 60% train, 20% dev, 20% test."""
    if not record_id:
        raise ValueError("a labelled record needs a non-empty id to be assigned a split")
    bucket = split_bucket(record_id, seed)
    if bucket < _TRAIN_END:
        return "train"
    if bucket < _DEV_END:
        return "dev"
    return "test"
