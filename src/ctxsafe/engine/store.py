"""The embedded run store: one SQLite file (WAL) holding runs, cases, turns, judgements and the cache.

Each write is its own committed transaction, so a process killed at any moment loses at most
the call that was in flight. Metrics and reports are recomputed from this file alone.

Commits stay synchronous on purpose: awaiting a deferred (group) commit between two turns leaves
that dialogue's HTTP connection idle, and the `openai` SDK's pool (httpcore) checks every idle
connection on every request, which cost far more than the commits saved (docs/performance.md).
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ctxsafe.engine.bulk import gc_paused
from ctxsafe.engine.case_facts import FACTS_SQL, CaseFacts, facts_of
from ctxsafe.engine.run_lock import acquire, is_held
from ctxsafe.engine.store_rows import (
    JUDGEMENT_COLUMNS,
    TURN_COLUMNS,
    CachedResponse,
    case_body,
    judgement_from_row,
    keyset_pages,
    put_cache,
    turn_from_row,
    write_judgement,
    write_turn,
)
from ctxsafe.engine.store_schema import (
    DDL,
    SCHEMA_VERSION,
    add_columns,
    check_store_file,
    connect,
    connect_readonly,
    missing_columns,
    store_problem,
)
from ctxsafe.errors import StoreError
from ctxsafe.images import CheckedImage
from ctxsafe.schema import Case, Judgement, TurnRecord, Usage

CHUNK = 1000
"""Cases per chunk when a run is read in order (`RunStore.case_chunks`)."""


@dataclass(frozen=True)
class BatchItem:
    """A request's row in a provider batch: its batch, whether that batch ended, and its result (JSON) if any."""

    batch_id: str
    ended: bool
    result: str | None


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    config: dict[str, Any]
    status: str
    created: float
    updated: float


F = TypeVar("F", bound=Callable[..., Any])


def _guarded(method: F) -> F:
    """Turn any SQLite or file-system error inside `method` into a StoreError naming the store."""

    @functools.wraps(method)
    def wrapper(self: RunStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            raise store_problem(self.path, exc) from exc

    return wrapper  # type: ignore[return-value]


def _guard_public(cls: type[RunStore]) -> type[RunStore]:
    for name, member in list(vars(cls).items()):
        if callable(member) and not name.startswith("_") and name not in ("lock", "transaction"):
            setattr(cls, name, _guarded(member))
    return cls


@_guard_public
class RunStore:
    """A thin, typed layer over the SQLite file; safe to reopen after any crash.

    `readonly=True` (report, runs, show) never creates or changes the store; every SQLite or file
    error, at open or later, is a StoreError naming the file, never a traceback.
    """

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        try:
            check_store_file(self.path, must_exist=readonly)
            if readonly:
                self._db = connect_readonly(self.path)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = connect(self.path)
                self._db.executescript(DDL)
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if not readonly and row is not None and row[0] == str(SCHEMA_VERSION):
                add_columns(self._db)
            self._served = row is not None and not missing_columns(self._db)
        except (sqlite3.Error, OSError) as exc:
            raise store_problem(self.path, exc) from exc
        found = None if row is None else row[0]
        if found != str(SCHEMA_VERSION):
            self._db.close()
            raise StoreError(f"run store {self.path} has schema version {found}; this ctxsafe reads version "
                             f"{SCHEMA_VERSION}. Use a new --store")

    def close(self) -> None:
        self._db.close()

    # -- locking ---------------------------------------------------------------------------
    @contextmanager
    def lock(self, run_id: str) -> Iterator[None]:
        """Refuse a second process on the same run; the OS drops the lock if we are killed."""
        lock_path = self.lock_path(run_id)
        fd = acquire(lock_path, run_id, self.path)
        try:
            yield
        finally:
            # Removed while still held, so no other process can be holding the same file: no stale lock files.
            lock_path.unlink(missing_ok=True)
            os.close(fd)

    def lock_path(self, run_id: str) -> Path:
        return self.path.parent / f".{self.path.name}.{run_id}.lock"

    def is_locked(self, run_id: str) -> bool:
        """Whether a live process holds the run (read-only: never creates a lock file)."""
        return is_held(self.lock_path(run_id))

    def problems(self, run_id: str, judges: Iterable[tuple[str, str]]) -> dict[str, int]:
        """Steps whose call failed, and judgements that failed or could not be parsed (for the exit code)."""
        failed = self._db.execute("SELECT COUNT(*) FROM turns WHERE run_id=? AND outcome='error'",
                                  (run_id,)).fetchone()[0]
        unjudged = sum(self._db.execute(
            "SELECT COUNT(*) FROM judgements WHERE run_id=? AND judge_id=? AND prompt_version=? "
            "AND (outcome != 'ok' OR parse_status != 'ok')", (run_id, j, v)).fetchone()[0] for j, v in judges)
        return {"failed steps": int(failed), "failed or unparseable judgements": int(unjudged)}

    # -- runs and cases --------------------------------------------------------------------
    def open_run(self, run_id: str, config: dict[str, Any], cases: Iterable[Case] = (), *,
                 bodies: Iterable[tuple[str, str]] = ()) -> RunInfo:
        """Record the run and (for a new run) its cases in one transaction: a case that cannot be stored
        (e.g. text that is not valid Unicode) leaves no orphan run row behind. `bodies` gives the cases
        already as (id, stored JSON), e.g. streamed from a `CaseSpool`, instead of `cases`."""
        now = time.time()
        given = itertools.chain(((c.id, case_body(c)) for c in cases), bodies)
        rows = ((run_id, case_id, i, body) for i, (case_id, body) in enumerate(given))
        with self.transaction():
            self._db.execute("INSERT OR IGNORE INTO runs VALUES (?, ?, 'created', ?, ?)",
                             (run_id, json.dumps(config, sort_keys=True), now, now))
            self._db.executemany("INSERT OR IGNORE INTO cases VALUES (?, ?, ?, ?)", rows)
        info = self.run(run_id)
        assert info is not None
        return info

    def run(self, run_id: str) -> RunInfo | None:
        row = self._db.execute("SELECT run_id, config, status, created, updated FROM runs WHERE run_id=?",
                               (run_id,)).fetchone()
        if row is None:
            return None
        return RunInfo(row[0], json.loads(row[1]), row[2], row[3], row[4])

    def runs(self) -> list[RunInfo]:
        rows = self._db.execute("SELECT run_id, config, status, created, updated FROM runs ORDER BY created")
        return [RunInfo(r[0], json.loads(r[1]), r[2], r[3], r[4]) for r in rows]

    def set_status(self, run_id: str, status: str) -> None:
        self._db.execute("UPDATE runs SET status=?, updated=? WHERE run_id=?", (status, time.time(), run_id))

    def save_cases(self, run_id: str, cases: Iterable[Case]) -> None:
        with self.transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO cases VALUES (?, ?, ?, ?)",
                ((run_id, c.id, i, c.model_dump_json()) for i, c in enumerate(cases)))

    def cases(self, run_id: str) -> list[Case]:
        rows = self._db.execute("SELECT body FROM cases WHERE run_id=? ORDER BY ord", (run_id,))
        with gc_paused():
            return [Case.model_validate_json(r[0]) for r in rows]

    def iter_cases(self, run_id: str) -> Iterator[Case]:
        """The run's cases in order, parsed a chunk at a time: a reader that keeps a few never holds the run."""
        for rows in self.case_rows(run_id):
            with gc_paused():
                cases = [Case.model_validate_json(body) for _, body in rows]
            yield from cases

    def case_ids(self, run_id: str) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT case_id FROM cases WHERE run_id=?", (run_id,))}

    def case_count(self, run_id: str) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM cases WHERE run_id=?", (run_id,)).fetchone()[0])

    def case_rows(self, run_id: str, size: int | None = None) -> Iterator[list[tuple[str, str]]]:
        """The run's cases in order as (case id, stored JSON), `size` at a time (nothing parsed)."""
        for rows in keyset_pages(self._db, "SELECT ord, case_id, body FROM cases WHERE run_id=? AND ord>? "
                                 "ORDER BY ord LIMIT ?", (run_id,), size or CHUNK):
            yield [(r[1], r[2]) for r in rows]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- image checks ----------------------------------------------------------------------
    def image_checks(self, max_side: int) -> dict[str, CheckedImage]:
        """Every image version checked before under this size policy, by key (see `ctxsafe.images`)."""
        try:
            rows = self._db.execute("SELECT key, stamp, sha256, media_type, width, height, policy, payload_bytes "
                                    "FROM image_checks WHERE max_side=?", (max_side,))
        except sqlite3.OperationalError as exc:  # a store written before the table existed, opened read-only
            if "no such table" in str(exc):
                return {}
            raise
        with gc_paused():
            return {r[0]: CheckedImage(*r) for r in rows}

    def remember_image_checks(self, max_side: int, checks: Iterable[CheckedImage]) -> None:
        """Remember what this session's image checks found (one transaction; the newest version wins)."""
        with self.transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO image_checks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((c.key, max_side, c.stamp, c.sha256, c.media_type, c.width, c.height, c.policy, c.payload_bytes)
                 for c in checks))

    # -- turns -----------------------------------------------------------------------------
    def record_turn(self, rec: TurnRecord, request_body: str | None, cache_key: str | None = None,
                    served: tuple[str | None, str | None] = (None, None)) -> None:
        """Commit one step, its request (deduplicated by hash) and its cache entry in one transaction;
        `served` (model, fingerprint) is what the API said answered a fresh call, kept on the cache entry."""
        with self.transaction():
            write_turn(self._db, rec, request_body, cache_key, served)

    def served_steps(self, run_id: str,
                     case_ids: list[str] | None = None) -> dict[tuple[str, str], tuple[str | None, str | None]]:
        """(case id, step) -> (served model, fingerprint) for the run's calls whose API named the model that
        answered: read from the request each step points at (a cached step: the call that first answered it).
        A pipeline's kept reply is not a call (no attempt, not cached) and is left out, as are steps with
        nothing known; a store written before these columns has none."""
        if not self._served:
            return {}
        where = "" if case_ids is None else f" AND t.case_id IN ({','.join('?' * len(case_ids))})"
        rows = self._db.execute(
            "SELECT t.case_id, t.step, r.served_model, r.served_fingerprint FROM turns t JOIN requests r "
            "ON r.hash = t.request_hash WHERE t.run_id=? AND (t.attempts > 0 OR t.cached = 1) "
            f"AND (r.served_model IS NOT NULL OR r.served_fingerprint IS NOT NULL){where}",
            (run_id, *(case_ids or ())))
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    def turns(self, run_id: str) -> dict[tuple[str, str], TurnRecord]:
        rows = self._db.execute(f"SELECT {TURN_COLUMNS} FROM turns WHERE run_id=?", (run_id,))
        with gc_paused():
            return {(r[1], r[2]): turn_from_row(r) for r in rows}

    def turns_for(self, run_id: str, case_ids: list[str]) -> dict[tuple[str, str], TurnRecord]:
        """`turns` of these cases only (at most a chunk of them: one SQL variable each)."""
        rows = self._db.execute(f"SELECT {TURN_COLUMNS} FROM turns WHERE run_id=? AND case_id IN "
                                f"({','.join('?' * len(case_ids))})", (run_id, *case_ids))
        with gc_paused():
            return {(r[1], r[2]): turn_from_row(r) for r in rows}

    def steps_with(self, run_id: str, case_ids: list[str], outcomes: Iterable[str]) -> set[tuple[str, str]]:
        """(case id, step) of these cases' turns that ended with one of `outcomes` (no record built)."""
        wanted = list(outcomes)
        rows = self._db.execute(f"SELECT case_id, step FROM turns WHERE run_id=? AND outcome IN "
                                f"({','.join('?' * len(wanted))}) AND case_id IN ({','.join('?' * len(case_ids))})",
                                (run_id, *wanted, *case_ids))
        return {(r[0], r[1]) for r in rows}

    def case_chunks(self, run_id: str, judge: tuple[str, str] | None, size: int | None = None,
                    ) -> Iterator[tuple[list[Case], dict[tuple[str, str], TurnRecord],
                                        dict[tuple[str, str], Judgement]]]:
        """The run's cases in order, `size` at a time, each chunk with its turns and `judge`'s judgements
        (keyed as `turns` and `judgements` key them): a report never holds the whole run."""
        for rows in self.case_rows(run_id, size):
            with gc_paused():
                cases = [Case.model_validate_json(body) for _, body in rows]
            ids = [c.id for c in cases]
            yield cases, self.turns_for(run_id, ids), {} if judge is None else self.judgements_for(run_id, *judge, ids)

    def case_facts(self, run_id: str, judge: tuple[str, str] | None) -> Iterator[CaseFacts]:
        """The run's cases in order as `CaseFacts`, with `judge`'s judgements of their turns: what the
        metrics need, read as columns in one streamed query (`case_chunks` builds whole objects)."""
        judge_id, version = judge or (None, None)  # NULL matches no judgement
        yield from facts_of(self._db.execute(FACTS_SQL, (judge_id, version, run_id)))

    def step_totals(self, run_id: str) -> list[tuple[str, str, tuple[int | None, int | None], int]]:
        """(step, outcome, summed tokens, steps) per step name and outcome, the steps that recorded no tokens
        apart (their tokens (None, None)): cost by role in one grouped query."""
        rows = self._db.execute(
            "SELECT step, outcome, input_tokens IS NULL AND output_tokens IS NULL, COUNT(*), "
            "SUM(COALESCE(input_tokens, 0)), SUM(COALESCE(output_tokens, 0)) FROM turns WHERE run_id=? "
            "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", (run_id,))
        return [(step, outcome, (None, None) if none else (tin, tout), n) for step, outcome, none, n, tin, tout in rows]

    def step_errors(self, run_id: str) -> list[tuple[str | None, int]]:
        """(error text, failed steps) of the run, grouped in SQL: a report never reads every turn for them."""
        rows = self._db.execute("SELECT error, COUNT(*) FROM turns WHERE run_id=? AND outcome='error' GROUP BY error",
                                (run_id,))
        return [(r[0], int(r[1])) for r in rows]

    def turn_count(self, run_id: str) -> int:
        row = self._db.execute("SELECT COUNT(*) FROM turns WHERE run_id=?", (run_id,)).fetchone()
        return int(row[0])

    def request_body(self, request_hash: str) -> str | None:
        row = self._db.execute("SELECT body FROM requests WHERE hash=?", (request_hash,)).fetchone()
        return None if row is None else str(row[0])

    # -- judgements ------------------------------------------------------------------------
    def record_judgement(self, j: Judgement) -> None:
        write_judgement(self._db, j)

    def record_judgements(self, js: Iterable[Judgement]) -> None:
        """Commit several judgements in one transaction."""
        with self.transaction():
            for j in js:
                write_judgement(self._db, j)

    @property
    def _judgement_columns(self) -> str:
        """What `_judgement` reads; a read-only store written before the served columns reads them as NULL."""
        served = "served_model, served_fingerprint, cached" if self._served else "NULL, NULL, NULL"
        return f"{JUDGEMENT_COLUMNS}, {served}"

    def judgements(self, run_id: str, judge_id: str, prompt_version: str) -> dict[tuple[str, str], Judgement]:
        rows = self._db.execute(
            f"SELECT {self._judgement_columns} FROM judgements WHERE run_id=? AND judge_id=? AND prompt_version=?",
            (run_id, judge_id, prompt_version))
        with gc_paused():
            return {(r[0], r[1]): judgement_from_row(run_id, judge_id, prompt_version, r) for r in rows}

    def judgements_for(self, run_id: str, judge_id: str, prompt_version: str,
                       case_ids: list[str]) -> dict[tuple[str, str], Judgement]:
        """`judgements` of these cases only (at most a chunk of them)."""
        rows = self._db.execute(
            f"SELECT {self._judgement_columns} FROM judgements WHERE run_id=? AND judge_id=? AND prompt_version=? "
            f"AND case_id IN ({','.join('?' * len(case_ids))})", (run_id, judge_id, prompt_version, *case_ids))
        with gc_paused():
            return {(r[0], r[1]): judgement_from_row(run_id, judge_id, prompt_version, r) for r in rows}

    def judgement_count(self, run_id: str, judge_id: str, prompt_version: str) -> int:
        return int(self._db.execute(
            "SELECT COUNT(*) FROM judgements WHERE run_id=? AND judge_id=? AND prompt_version=?",
            (run_id, judge_id, prompt_version)).fetchone()[0])

    def judge_usage(self, run_id: str, judge_id: str, prompt_version: str) -> list[tuple[int | None, int | None]]:
        """The recorded tokens of a judge's calls on a run (none in a store written before they were kept)."""
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='judge_usage'").fetchone() is None:
            return []
        rows = self._db.execute(
            "SELECT input_tokens, output_tokens FROM judge_usage WHERE run_id=? AND judge_id=? AND prompt_version=?",
            (run_id, judge_id, prompt_version))
        return [(r[0], r[1]) for r in rows]

    def served_counts(self, run_id: str, judge_id: str,
                      prompt_version: str) -> list[tuple[str | None, str | None, bool | None, int]]:
        """(served model, fingerprint, from the cache, verdicts) for one judge of a run."""
        if not self._served:
            return []
        rows = self._db.execute(
            "SELECT served_model, served_fingerprint, cached, COUNT(*) FROM judgements "
            "WHERE run_id=? AND judge_id=? AND prompt_version=? GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            (run_id, judge_id, prompt_version))
        return [(r[0], r[1], None if r[2] is None else bool(r[2]), int(r[3])) for r in rows]

    def judges_of(self, run_id: str) -> list[tuple[str, str]]:
        rows = self._db.execute(
            "SELECT DISTINCT judge_id, prompt_version FROM judgements WHERE run_id=? ORDER BY judge_id", (run_id,))
        return [(r[0], r[1]) for r in rows]

    # -- request cache (shared across runs) --------------------------------------------------
    def cache_get(self, key: str) -> CachedResponse | None:
        served = "served_model, served_fingerprint" if self._served else "NULL, NULL"
        row = self._db.execute(
            f"SELECT response, finish_reason, input_tokens, output_tokens, {served} FROM requests "
            "WHERE hash=? AND answered=1", (key,)).fetchone()
        if row is None:
            return None
        return CachedResponse(row[0], row[1], Usage(input_tokens=row[2], output_tokens=row[3]), row[4], row[5])

    def cache_put(self, key: str, body: str, value: CachedResponse) -> None:
        put_cache(self._db, key, body, value)

    # -- provider batches (engine/batcher.py) ------------------------------------------------
    def batch_item(self, provider: str, key: str) -> BatchItem | None:
        """Where a request stands in a provider batch: in flight, answered (result JSON), or never batched."""
        row = self._db.execute(
            "SELECT i.batch_id, b.ended, i.result FROM batch_items i JOIN batches b ON b.batch_id = i.batch_id "
            "WHERE i.provider=? AND i.key=?", (provider, key)).fetchone()
        return None if row is None else BatchItem(row[0], bool(row[1]), row[2])

    def record_batch(self, batch_id: str, provider: str, api: str, keys: list[str]) -> None:
        """A submitted batch and its requests, in one transaction (what a later process re-attaches to)."""
        now = time.time()
        with self.transaction():
            self._db.execute("INSERT INTO batches VALUES (?,?,?,?,?,0,?,?)",
                             (batch_id, provider, api, "submitted", len(keys), now, now))
            self._db.executemany("INSERT OR REPLACE INTO batch_items VALUES (?,?,?,NULL)",
                                 [(provider, k, batch_id) for k in keys])

    def set_batch_state(self, batch_id: str, state: str) -> None:
        self._db.execute("UPDATE batches SET state=?, updated=? WHERE batch_id=?", (state, time.time(), batch_id))

    def batch_keys(self, batch_id: str) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT key FROM batch_items WHERE batch_id=?", (batch_id,))]

    def finish_batch(self, batch_id: str, state: str, results: dict[str, str]) -> None:
        """An ended batch with every request's result (JSON), in one transaction."""
        with self.transaction():
            self._db.execute("UPDATE batches SET state=?, ended=1, updated=? WHERE batch_id=?",
                             (state, time.time(), batch_id))
            self._db.executemany("UPDATE batch_items SET result=? WHERE batch_id=? AND key=?",
                                 [(r, batch_id, k) for k, r in results.items()])

    def forget_batch_item(self, provider: str, key: str) -> None:
        """Drop a delivered error, so that the retry goes into a new batch."""
        self._db.execute("DELETE FROM batch_items WHERE provider=? AND key=?", (provider, key))

    def batches(self) -> list[tuple[str, str, str, str, int, bool]]:
        """(batch id, provider, api, state, requests, ended) of every batch this store submitted, oldest first."""
        return [(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in self._db.execute(
            "SELECT batch_id, provider, api, state, requests, ended FROM batches ORDER BY created")]
