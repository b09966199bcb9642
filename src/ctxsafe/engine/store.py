"""The embedded run store: one SQLite file (WAL) holding runs, cases, turns, judgements and the cache.

Each write is its own committed transaction, so a process killed at any moment loses at most
the call that was in flight. Metrics and reports are recomputed from this file alone.

Commits stay synchronous on purpose: awaiting a deferred (group) commit between two turns leaves
that dialogue's HTTP connection idle, and the `openai` SDK's pool (httpcore) checks every idle
connection on every request, which cost far more than the commits saved (docs/performance.md).
"""

from __future__ import annotations

import fcntl
import functools
import itertools
import json
import os
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic_core import PydanticSerializationError

from ctxsafe.engine.bulk import gc_paused
from ctxsafe.engine.case_facts import FACTS_SQL, CaseFacts, facts_of
from ctxsafe.errors import DataError, RunLockedError, StoreError
from ctxsafe.images import CheckedImage
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
  input_tokens INTEGER, output_tokens INTEGER, created REAL NOT NULL, served_model TEXT,
  served_fingerprint TEXT);
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
  created REAL NOT NULL, served_model TEXT, served_fingerprint TEXT, cached INTEGER,
  PRIMARY KEY (run_id, case_id, step, judge_id, prompt_version));
CREATE TABLE IF NOT EXISTS judge_usage (
  run_id TEXT NOT NULL, case_id TEXT NOT NULL, step TEXT NOT NULL, judge_id TEXT NOT NULL,
  prompt_version TEXT NOT NULL, input_tokens INTEGER, output_tokens INTEGER,
  PRIMARY KEY (run_id, case_id, step, judge_id, prompt_version));
CREATE TABLE IF NOT EXISTS image_checks (
  key TEXT NOT NULL, max_side INTEGER NOT NULL, stamp TEXT NOT NULL, sha256 TEXT NOT NULL,
  media_type TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL, policy TEXT NOT NULL,
  payload_bytes INTEGER NOT NULL, PRIMARY KEY (key, max_side));
CREATE TABLE IF NOT EXISTS batches (
  batch_id TEXT PRIMARY KEY, provider TEXT NOT NULL, api TEXT NOT NULL, state TEXT NOT NULL,
  requests INTEGER NOT NULL, ended INTEGER NOT NULL, created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS batch_items (
  provider TEXT NOT NULL, key TEXT NOT NULL, batch_id TEXT NOT NULL, result TEXT,
  PRIMARY KEY (provider, key));
CREATE INDEX IF NOT EXISTS cases_by_ord ON cases (run_id, ord);
"""
# cases_by_ord lets a run be read in order a chunk at a time without scanning the run per chunk; a store
# written before it (or opened read-only) reads the same rows, only slower.
# judge_usage came after schema version 2 without changing what older code reads: a store written before it
# simply has no judge tokens (reported as not recorded), so it keeps its version. image_checks likewise: a
# store without it has remembered no image yet. batches/batch_items likewise: a store without them has no
# batch in flight.

ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    "requests": ("served_model TEXT", "served_fingerprint TEXT"),
    "judgements": ("served_model TEXT", "served_fingerprint TEXT", "cached INTEGER"),
}
"""Columns added after schema 2 shipped (which model the API says answered, and whether a verdict came
from the cache). A store written before them gets them when opened for writing; read-only, they read
as unknown. Adding columns keeps older stores usable, so the schema version stays 2."""


def _missing_columns(db: sqlite3.Connection) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for table, columns in ADDED_COLUMNS.items():
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        missing = [c for c in columns if c.split()[0] not in have]
        if missing:
            out[table] = missing
    return out


def _add_columns(db: sqlite3.Connection) -> None:
    for table, columns in _missing_columns(db).items():
        for column in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """Open for reading only: never creates the file, a table or a row.

    A WAL store in a read-only folder cannot get its shared-memory file; it is then opened as
    immutable, which is exact as long as no write-ahead log is pending (checked first).
    """
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30.0)
    try:
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        db.close()
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise
    return sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None, check_same_thread=False)


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
    db.execute("INSERT OR REPLACE INTO requests (hash, body, answered, response, finish_reason, input_tokens, "
               "output_tokens, created, served_model, served_fingerprint) VALUES (?,?,1,?,?,?,?,?,?,?)",
               (key, body, value.response, value.finish_reason, value.usage.input_tokens,
                value.usage.output_tokens, time.time(), value.served_model, value.fingerprint))


def _write_turn(db: sqlite3.Connection, rec: TurnRecord, request_body: str | None, cache_key: str | None,
                served: tuple[str | None, str | None] = (None, None)) -> None:
    """One row per distinct request: its body, and its answer once it has one (the request cache), with
    which model the API said served it (`served`: model, fingerprint).

    Keeping the log and the cache in one table makes a turn cost one keyed insert, not two.
    """
    if cache_key is not None and request_body is not None:
        _put_cache(db, cache_key, request_body, CachedResponse(rec.response, rec.finish_reason, rec.usage, *served))
    elif request_body is not None:
        db.execute("INSERT OR IGNORE INTO requests (hash, body, answered, created) VALUES (?, ?, 0, ?)",
                   (rec.request_hash, request_body, time.time()))
    db.execute(
        "INSERT OR REPLACE INTO turns VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (rec.run_id, rec.case_id, rec.step, rec.index, rec.request_hash, rec.response, rec.finish_reason,
         rec.outcome, rec.error, rec.usage.input_tokens, rec.usage.output_tokens, rec.latency_s,
         int(rec.cached), rec.attempts, time.time()))


_TURN_COLUMNS = ("run_id, case_id, step, idx, request_hash, response, finish_reason, outcome, error, input_tokens, "
                 "output_tokens, latency_s, cached, attempts")
_JUDGEMENT_COLUMNS = "case_id, step, label, score, explanation, raw, parse_status, outcome, error, input_mode"
CHUNK = 1000
"""Cases per chunk when a run is read in order (`RunStore.case_chunks`)."""


def _turn(r: tuple[Any, ...]) -> TurnRecord:
    return TurnRecord(run_id=r[0], case_id=r[1], step=r[2], index=r[3], request_hash=r[4], response=r[5],
                      finish_reason=r[6], outcome=r[7], error=r[8], usage=Usage(input_tokens=r[9], output_tokens=r[10]),
                      latency_s=r[11], cached=bool(r[12]), attempts=r[13])


def _judgement(run_id: str, judge_id: str, prompt_version: str, r: tuple[Any, ...]) -> Judgement:
    return Judgement(run_id=run_id, case_id=r[0], step=r[1], judge_id=judge_id, prompt_version=prompt_version,
                     label=r[2], score=r[3], explanation=r[4], raw=r[5], parse_status=r[6], outcome=r[7], error=r[8],
                     input_mode=r[9], served_model=r[10], served_fingerprint=r[11],
                     cached=None if r[12] is None else bool(r[12]))


def _write_judgement(db: sqlite3.Connection, j: Judgement) -> None:
    db.execute(
        "INSERT OR REPLACE INTO judgements VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (j.run_id, j.case_id, j.step, j.judge_id, j.prompt_version, j.label, j.score, j.explanation, j.raw,
         j.parse_status, j.outcome, j.error, j.input_mode, time.time(), j.served_model, j.served_fingerprint,
         None if j.cached is None else int(j.cached)))
    if j.usage is not None:
        db.execute("INSERT OR REPLACE INTO judge_usage VALUES (?,?,?,?,?,?,?)",
                   (j.run_id, j.case_id, j.step, j.judge_id, j.prompt_version, j.usage.input_tokens,
                    j.usage.output_tokens))


def _acquire(lock_path: Path, run_id: str, store: Path) -> int:
    """An exclusive lock on the run's lock file, retried if the file was replaced while we waited."""
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise store_problem(store, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLockedError(
                f"run {run_id} is already being executed by another process (lock {lock_path}); "
                "wait for it to finish or stop it first") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # else the previous holder removed it after we opened it: take the new file
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            return fd
        os.close(fd)


def keyset_pages(db: sqlite3.Connection, sql: str, params: tuple[Any, ...], size: int,
                 ) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of `sql` a page at a time, by keyset: its first column is the ordering key and its last two
    parameters are `key > ?` and `LIMIT ?`, so each page is one indexed range read however deep it is."""
    last = -1
    while rows := db.execute(sql, (*params, last, size)).fetchall():
        last = rows[-1][0]
        yield rows


def case_body(case: Case) -> str:
    """A case as stored; one that cannot be written (text that is not Unicode) is a DataError naming it."""
    try:
        body = case.model_dump_json()
        body.encode("utf-8")
    except (PydanticSerializationError, UnicodeEncodeError) as exc:
        raise DataError(f"case {case.id!r} holds text that is not valid Unicode (a lone surrogate?): {exc}",
                        record=str(case.meta.get("record", case.id))) from None
    return body


@dataclass(frozen=True)
class CachedResponse:
    response: str | None
    finish_reason: str | None
    usage: Usage
    served_model: str | None = None
    fingerprint: str | None = None


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


def store_problem(path: Path, exc: BaseException) -> StoreError:
    """One clear sentence for what SQLite or the file system said about the store at `path`."""
    text = str(exc)
    if isinstance(exc, OSError):
        text = f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
    low = text.lower()
    if "full" in low or "no space" in low or "too large" in low:
        hint = "the disk (or file size limit) is full; free space and re-run the same command to resume"
    elif "readonly" in low or "read-only" in low or "permission" in low or "not permitted" in low:
        hint = "the store or its folder is read-only; make it writable or choose another --store"
    elif "malformed" in low or "not a database" in low or "corrupt" in low:
        hint = "the file is damaged or not a ctxsafe run store; restore it from a copy or choose another --store"
    else:
        hint = "check the file and its folder, or choose another --store"
    return StoreError(f"run store {path}: {text}: {hint}")


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


def check_store_file(path: Path, *, must_exist: bool) -> None:
    """Refuse what SQLite would silently accept: a zero-byte file (it would become a new store), a folder,
    and, for read-only commands, a store that does not exist (it would be created)."""
    if not path.exists():
        if must_exist:
            raise StoreError(f"no run store at {path} (run a benchmark first, or pass --store)")
        return
    if not path.is_file():
        raise StoreError(f"run store {path} is not a regular file")
    if path.stat().st_size == 0:
        raise StoreError(f"run store {path} is empty (0 bytes): it was truncated or never written. Remove it "
                         "to start a new store, or choose another --store")


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
                self._db = _connect_readonly(self.path)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = _connect(self.path)
                self._db.executescript(_DDL)
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if not readonly and row is not None and row[0] == str(SCHEMA_VERSION):
                _add_columns(self._db)
            self._served = row is not None and not _missing_columns(self._db)
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
        fd = _acquire(lock_path, run_id, self.path)
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
        try:
            fd = os.open(self.lock_path(run_id), os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

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
            _write_turn(self._db, rec, request_body, cache_key, served)

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
        rows = self._db.execute(f"SELECT {_TURN_COLUMNS} FROM turns WHERE run_id=?", (run_id,))
        with gc_paused():
            return {(r[1], r[2]): _turn(r) for r in rows}

    def turns_for(self, run_id: str, case_ids: list[str]) -> dict[tuple[str, str], TurnRecord]:
        """`turns` of these cases only (at most a chunk of them: one SQL variable each)."""
        rows = self._db.execute(f"SELECT {_TURN_COLUMNS} FROM turns WHERE run_id=? AND case_id IN "
                                f"({','.join('?' * len(case_ids))})", (run_id, *case_ids))
        with gc_paused():
            return {(r[1], r[2]): _turn(r) for r in rows}

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
        _write_judgement(self._db, j)

    def record_judgements(self, js: Iterable[Judgement]) -> None:
        """Commit several judgements in one transaction."""
        with self.transaction():
            for j in js:
                _write_judgement(self._db, j)

    @property
    def _judgement_columns(self) -> str:
        """What `_judgement` reads; a read-only store written before the served columns reads them as NULL."""
        served = "served_model, served_fingerprint, cached" if self._served else "NULL, NULL, NULL"
        return f"{_JUDGEMENT_COLUMNS}, {served}"

    def judgements(self, run_id: str, judge_id: str, prompt_version: str) -> dict[tuple[str, str], Judgement]:
        rows = self._db.execute(
            f"SELECT {self._judgement_columns} FROM judgements WHERE run_id=? AND judge_id=? AND prompt_version=?",
            (run_id, judge_id, prompt_version))
        with gc_paused():
            return {(r[0], r[1]): _judgement(run_id, judge_id, prompt_version, r) for r in rows}

    def judgements_for(self, run_id: str, judge_id: str, prompt_version: str,
                       case_ids: list[str]) -> dict[tuple[str, str], Judgement]:
        """`judgements` of these cases only (at most a chunk of them)."""
        rows = self._db.execute(
            f"SELECT {self._judgement_columns} FROM judgements WHERE run_id=? AND judge_id=? AND prompt_version=? "
            f"AND case_id IN ({','.join('?' * len(case_ids))})", (run_id, judge_id, prompt_version, *case_ids))
        with gc_paused():
            return {(r[0], r[1]): _judgement(run_id, judge_id, prompt_version, r) for r in rows}

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
        _put_cache(self._db, key, body, value)

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
