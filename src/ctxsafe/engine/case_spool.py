"""One invocation's cases on disk, read back a chunk at a time, so a run of any size holds only a
chunk of cases in memory (docs/performance.md, "Memory at scale").

The cases arrive once, as the suite's loader yields them, and are written to a private temporary
SQLite file (deleted when closed). The same pass computes what needs every case: the data digest of
the run identity, the duplicate-id check and the count. Every later pass (the store's insert, the
resume check, generation, judging, guards) reads the spool in play order: every safe twin before
any unsafe one, otherwise in loaded order. Twins that share their first turns (MTMCS Type A) send
identical requests; the request cache answers the second twin only once the first twin's answer is
recorded, so starting the safe twins first makes that the usual case instead of a race.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Collection, Iterable, Iterator

from ctxsafe.engine.bulk import gc_paused
from ctxsafe.engine.rollout import case_steps
from ctxsafe.engine.store import CHUNK
from ctxsafe.engine.store_rows import case_body, keyset_pages
from ctxsafe.errors import DataError
from ctxsafe.schema import Case

_DDL = """
CREATE TABLE cases (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, unsafe INTEGER NOT NULL,
                    images INTEGER NOT NULL, steps TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX play ON cases (unsafe, seq);
"""


class CaseSpool(Collection[Case]):
    """The cases, spooled to disk in one pass; iterating reads them back in play order, a chunk at a time."""

    def __init__(self, cases: Iterable[Case]) -> None:
        self._db = sqlite3.connect("", check_same_thread=False)  # "": a private file SQLite deletes on close
        self._db.executescript(_DDL)
        digest = hashlib.sha256()
        count = 0
        try:
            with self._db:  # one transaction
                for seq, case in enumerate(cases):
                    body = case_body(case)
                    digest.update(body.encode())
                    try:
                        self._db.execute("INSERT INTO cases VALUES (?, ?, ?, ?, ?, ?)",
                                         (seq, case.id, int(case.context != "safe"), int(bool(case.images())),
                                          json.dumps(case_steps(case)), body))
                    except sqlite3.IntegrityError:
                        raise DataError(f"duplicate case id {case.id!r}",
                                        record=str(case.meta.get("record", case.id))) from None
                    count += 1
        except BaseException:
            self._db.close()
            raise
        self.digest = digest.hexdigest()[:16]
        """The data digest of the run identity: sha256 over each case's stored JSON, in loaded order."""
        self._count = count

    def close(self) -> None:
        self._db.close()

    def __len__(self) -> int:
        return self._count

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, Case):
            return False
        row = self._db.execute("SELECT body FROM cases WHERE id=?", (item.id,)).fetchone()
        return row is not None and Case.model_validate_json(row[0]) == item

    def _read(self, column: str, size: int | None, where: str = "") -> Iterator[list[tuple[str, str]]]:
        """(case id, `column`) in play order, `size` at a time."""
        for unsafe in (0, 1):
            for rows in keyset_pages(self._db, f"SELECT seq, id, {column} FROM cases WHERE unsafe=?{where} "
                                     "AND seq>? ORDER BY seq LIMIT ?", (unsafe,), size or CHUNK):
                yield [(r[1], r[2]) for r in rows]

    def rows(self, size: int | None = None) -> Iterator[list[tuple[str, str]]]:
        """(case id, stored JSON) in play order, `size` at a time."""
        return self._read("body", size)

    def step_rows(self, size: int | None = None) -> Iterator[list[tuple[str, list[str]]]]:
        """(case id, the steps the model is asked) in play order, `size` at a time (no case parsed)."""
        for rows in self._read("steps", size):
            yield [(case_id, json.loads(steps)) for case_id, steps in rows]

    def step_total(self) -> int:
        """Every case's steps, summed: what a run's progress counts to."""
        return int(self._db.execute("SELECT COALESCE(SUM(json_array_length(steps)), 0) FROM cases").fetchone()[0])

    def with_images(self) -> Iterator[Case]:
        """The cases that send an image, in play order (what a provider's capabilities are checked on)."""
        for rows in self._read("body", None, " AND images=1"):
            with gc_paused():
                yield from [Case.model_validate_json(body) for _, body in rows]

    def cases_of(self, ids: list[str]) -> list[Case]:
        """These cases (at most a chunk of ids), in the order given."""
        bodies = self.bodies(ids)
        with gc_paused():
            return [Case.model_validate_json(bodies[i]) for i in ids]

    def chunks(self, size: int | None = None) -> Iterator[list[Case]]:
        """The cases in play order, `size` at a time."""
        for rows in self.rows(size):
            with gc_paused():
                yield [Case.model_validate_json(body) for _, body in rows]

    def __iter__(self) -> Iterator[Case]:
        for chunk in self.chunks():
            yield from chunk

    def bodies(self, ids: list[str]) -> dict[str, str]:
        """The stored JSON of these cases (at most a chunk of ids: one SQL variable each); absent ids left out."""
        rows = self._db.execute(f"SELECT id, body FROM cases WHERE id IN ({','.join('?' * len(ids))})", ids)
        return dict(rows.fetchall())
