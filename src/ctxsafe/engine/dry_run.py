"""`--dry-run`: the whole run against a throwaway copy of the store, with providers that send nothing.

Going through the same engine (cache lookups, policies, judges) is what makes the count exact:
it is the number of calls a real run would then make, cache hits excluded. (Each stand-in reply is
distinct; should a real model give byte-identical replies to different requests, the judge calls
on them are shared and the real run makes fewer calls, never more.) Tokens are estimated
(about four characters a token, a fixed cost per image, the output cap or a default length).
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams, Provider
from ctxsafe.providers.capabilities import capabilities_of
from ctxsafe.schema import Message, Usage

IMAGE_TOKENS = 800
"""A deliberately high per-image estimate (a 1024px image is ~765 tokens on OpenAI, ~1,400 on Claude)."""
OUTPUT_TOKENS = 300
"""Estimated reply length when the run sets no max_tokens."""
PLACEHOLDER = "[dry run: no call was made]"

_ACTIVE: ContextVar[bool] = ContextVar("ctxsafe_dry_run", default=False)


def active() -> bool:
    return _ACTIVE.get()


class Estimator:
    """Stands in for a provider: same name and identity (so cache keys match), but never sends anything."""

    batch = False
    """Set under --batch: the estimate is charged at the batch price."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.name = inner.name
        self.identity = inner.identity
        self.is_reference = inner.is_reference
        self.max_concurrency = inner.max_concurrency
        self.capabilities = capabilities_of(inner)

    async def complete(self, messages: list[Message], params: GenParams, images: ImageStore) -> Completion:
        chars = sum(len(m.text_content()) for m in messages)
        n_images = sum(len(m.images()) for m in messages)
        usage = Usage(input_tokens=(chars + 3) // 4 + IMAGE_TOKENS * n_images,
                      output_tokens=params.max_tokens or OUTPUT_TOKENS)
        # A distinct reply per request, as real models give: later calls that embed it (judges) stay distinct.
        digest = hashlib.sha256(repr([(m.role, m.text_content(), [p.sha256 for p in m.images()])
                                      for m in messages]).encode()).hexdigest()[:12]
        return Completion(text=f"{PLACEHOLDER} {digest}", finish_reason="stop", usage=usage)

    async def aclose(self) -> None:
        await self.inner.aclose()


@contextmanager
def dry_run(store_path: Path) -> Iterator[tuple[Path, Path]]:
    """Within this block providers send nothing; yields (a copy of the store, a scratch results folder)."""
    with tempfile.TemporaryDirectory(prefix="ctxsafe-dry-run-") as tmp:
        copy = Path(tmp) / "runs.sqlite"
        if store_path.exists():
            src = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)
            dst = sqlite3.connect(copy)
            try:
                src.backup(dst)  # consistent even while another process writes (WAL included)
            finally:
                dst.close()
                src.close()
        token = _ACTIVE.set(True)
        try:
            yield copy, Path(tmp) / "results"
        finally:
            _ACTIVE.reset(token)
            shutil.rmtree(tmp, ignore_errors=True)
