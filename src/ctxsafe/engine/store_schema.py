"""The run store's file: its tables, how it is opened, and what a problem with the file is called.

Kept apart from `RunStore` so the schema and the SQLite settings can be read (and changed) in one place.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from pathlib import Path

from ctxsafe.errors import StoreError

SCHEMA_VERSION = 2

DDL = """
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


def missing_columns(db: sqlite3.Connection) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for table, columns in ADDED_COLUMNS.items():
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        missing = [c for c in columns if c.split()[0] not in have]
        if missing:
            out[table] = missing
    return out


def add_columns(db: sqlite3.Connection) -> None:
    for table, columns in missing_columns(db).items():
        for column in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")


def connect_readonly(path: Path) -> sqlite3.Connection:
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


def connect(path: Path) -> sqlite3.Connection:
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
