"""The embedded run store: one SQLite file (WAL) holding runs, cases, turns, judgements and the cache.

Each write is its own committed transaction, so a process killed at any moment loses at most
the call that was in flight. Metrics and reports are recomputed from this file alone.

Commits stay synchronous on purpose: awaiting a deferred (group) commit between two turns leaves
that dialogue's HTTP connection idle, and the `openai` SDK's pool (httpcore) checks every idle
connection on every request, which cost far more than the commits saved (docs/performance.md).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctxsafe.engine.bulk import gc_paused
from ctxsafe.errors import CtxsafeError, RunLockedError
from ctxsafe.schema import Case, Judgement, TurnRecord, Usage

SCHEMA_VERSION = 2

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, config TEXT NOT NULL, status TEXT NOT NULL,
  created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS cases (
  run_id TEXT NOT NULL, case_id TEXT NOT NULL, ord INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (run_id, case_id));
CREATE TABLE IF NOT EXISTS requests (
  hash TEXT PRIMARY KEY, body TEXT NOT NULL, answered INTEGER NOT NULL, response TEXT, finish_reason TEXT,
  input_tokens INTEGER, output_tokens INTEGER, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS turns (
  run_id TEXT NOT NULL, case_id TEXT NOT NULL, step TEXT NOT NULL, idx INTEGER NOT NULL,
  request_hash TEXT NOT NULL, response TEXT, finish_reason TEXT, outcome TEXT NOT NULL, error TEXT,
  input_tokens INTEGER, output_tokens INTEGER, latency_s REAL NOT NULL, cached INTEGER NOT NULL,
  attempts INTEGER NOT NULL, created REAL NOT NULL,
  PRIMARY KEY (run_id, case_id, step));
CREATE TABLE IF NOT EXISTS judgements (
  run_id TEXT NOT NULL, case_id TEXT NOT NULL, step TEXT NOT NULL, judge_id TEXT NOT NULL,
  prompt_version TEXT NOT NULL, label INTEGER, score REAL, explanation TEXT, raw TEXT,
  parse_status TEXT NOT NULL, outcome TEXT NOT NULL, error TEXT, input_mode TEXT NOT NULL,
  created REAL NOT NULL,
  PRIMARY KEY (run_id, case_id, step, judge_id, prompt_version));
"""


def _connect(path: Path) -> sqlite3.Connection:
    """WAL, and durable against a killed process (not a power cut) without an fsync per commit.

    The request and cache tables are keyed by random hashes, so every insert touches a random page:
    a 32 MB page cache keeps a run of tens of thousands of turns in memory, and checkpointing every
    4,000 pages (16 MB of WAL) instead of 1,000 fsyncs a quarter as often (docs/performance.md).
    """
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA cache_size=-32768")
    db.execute("PRAGMA wal_autocheckpoint=4000")
    return db


def _put_cache(db: sqlite3.Connection, key: str, body: str, value: CachedResponse) -> None:
    db.execute("INSERT OR REPLACE INTO requests VALUES (?,?,1,?,?,?,?,?)",
               (key, body, value.response, value.finish_reason, value.usage.input_tokens,
                value.usage.output_tokens, time.time()))


def _write_turn(db: sqlite3.Connection, rec: TurnRecord, request_body: str | None, cache_key: str | None) -> None:
    """One row per distinct request: its body, and its answer once it has one (the request cache).

    Keeping the log and the cache in one table makes a turn cost one keyed insert, not two.
    """
    if cache_key is not None and request_body is not None:
        _put_cache(db, cache_key, request_body, CachedResponse(rec.response, rec.finish_reason, rec.usage))
    elif request_body is not None:
        db.execute("INSERT OR IGNORE INTO requests (hash, body, answered, created) VALUES (?, ?, 0, ?)",
                   (rec.request_hash, request_body, time.time()))
    db.execute(
        "INSERT OR REPLACE INTO turns VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (rec.run_id, rec.case_id, rec.step, rec.index, rec.request_hash, rec.response, rec.finish_reason,
         rec.outcome, rec.error, rec.usage.input_tokens, rec.usage.output_tokens, rec.latency_s,
         int(rec.cached), rec.attempts, time.time()))


def _write_judgement(db: sqlite3.Connection, j: Judgement) -> None:
    db.execute(
        "INSERT OR REPLACE INTO judgements VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (j.run_id, j.case_id, j.step, j.judge_id, j.prompt_version, j.label, j.score, j.explanation, j.raw,
         j.parse_status, j.outcome, j.error, j.input_mode, time.time()))


@dataclass(frozen=True)
class CachedResponse:
    response: str | None
    finish_reason: str | None
    usage: Usage


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    config: dict[str, Any]
    status: str
    created: float
    updated: float


class RunStore:
    """A thin, typed layer over the SQLite file; safe to reopen after any crash."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = _connect(self.path)
            self._db.executescript(_DDL)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            found = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise CtxsafeError(f"run store {self.path} cannot be opened: {exc}") from exc
        if found != str(SCHEMA_VERSION):
            self._db.close()
            raise CtxsafeError(f"run store {self.path} has schema version {found}; this ctxsafe reads version "
                               f"{SCHEMA_VERSION}. Use a new --store")

    def close(self) -> None:
        self._db.close()

    # -- locking ---------------------------------------------------------------------------
    @contextmanager
    def lock(self, run_id: str) -> Iterator[None]:
        """Refuse a second process on the same run; the OS drops the lock if we are killed."""
        lock_path = self.path.parent / f".{self.path.name}.{run_id}.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunLockedError(
                    f"run {run_id} is already being executed by another process (lock {lock_path}); "
                    "wait for it to finish or stop it first") from None
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            yield
        finally:
            os.close(fd)

    # -- runs and cases --------------------------------------------------------------------
    def open_run(self, run_id: str, config: dict[str, Any]) -> RunInfo:
        now = time.time()
        self._db.execute("INSERT OR IGNORE INTO runs VALUES (?, ?, 'created', ?, ?)",
                         (run_id, json.dumps(config, sort_keys=True), now, now))
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

    def case_ids(self, run_id: str) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT case_id FROM cases WHERE run_id=?", (run_id,))}

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- turns -----------------------------------------------------------------------------
    def record_turn(self, rec: TurnRecord, request_body: str | None, cache_key: str | None = None) -> None:
        """Commit one step, its request (deduplicated by hash) and its cache entry in one transaction."""
        with self.transaction():
            _write_turn(self._db, rec, request_body, cache_key)

    def turns(self, run_id: str) -> dict[tuple[str, str], TurnRecord]:
        rows = self._db.execute(
            "SELECT run_id, case_id, step, idx, request_hash, response, finish_reason, outcome, error, "
            "input_tokens, output_tokens, latency_s, cached, attempts FROM turns WHERE run_id=?", (run_id,))
        out: dict[tuple[str, str], TurnRecord] = {}
        with gc_paused():
            for r in rows:
                out[(r[1], r[2])] = TurnRecord(
                    run_id=r[0], case_id=r[1], step=r[2], index=r[3], request_hash=r[4], response=r[5],
                    finish_reason=r[6], outcome=r[7], error=r[8],
                    usage=Usage(input_tokens=r[9], output_tokens=r[10]), latency_s=r[11], cached=bool(r[12]),
                    attempts=r[13])
        return out

    def turn_count(self, run_id: str) -> int:
        row = self._db.execute("SELECT COUNT(*) FROM turns WHERE run_id=?", (run_id,)).fetchone()
        return int(row[0])

    def request_body(self, request_hash: str) -> str | None:
        row = self._db.execute("SELECT body FROM requests WHERE hash=?", (request_hash,)).fetchone()
        return None if row is None else str(row[0])

    # -- judgements ------------------------------------------------------------------------
    def record_judgement(self, j: Judgement) -> None:
        _write_judgement(self._db, j)

    def record_judgements(self, js: Iterable[Judgement]) -> None:
        """Commit several judgements in one transaction."""
        with self.transaction():
            for j in js:
                _write_judgement(self._db, j)

    def judgements(self, run_id: str, judge_id: str, prompt_version: str) -> dict[tuple[str, str], Judgement]:
        rows = self._db.execute(
            "SELECT case_id, step, label, score, explanation, raw, parse_status, outcome, error, input_mode "
            "FROM judgements WHERE run_id=? AND judge_id=? AND prompt_version=?",
            (run_id, judge_id, prompt_version))
        with gc_paused():
            return {
                (r[0], r[1]): Judgement(run_id=run_id, case_id=r[0], step=r[1], judge_id=judge_id,
                                        prompt_version=prompt_version, label=r[2], score=r[3], explanation=r[4],
                                        raw=r[5], parse_status=r[6], outcome=r[7], error=r[8], input_mode=r[9])
                for r in rows
            }

    def judges_of(self, run_id: str) -> list[tuple[str, str]]:
        rows = self._db.execute(
            "SELECT DISTINCT judge_id, prompt_version FROM judgements WHERE run_id=? ORDER BY judge_id", (run_id,))
        return [(r[0], r[1]) for r in rows]

    # -- request cache (shared across runs) --------------------------------------------------
    def cache_get(self, key: str) -> CachedResponse | None:
        row = self._db.execute(
            "SELECT response, finish_reason, input_tokens, output_tokens FROM requests WHERE hash=? AND answered=1",
            (key,)).fetchone()
        if row is None:
            return None
        return CachedResponse(row[0], row[1], Usage(input_tokens=row[2], output_tokens=row[3]))

    def cache_put(self, key: str, body: str, value: CachedResponse) -> None:
        _put_cache(self._db, key, body, value)
