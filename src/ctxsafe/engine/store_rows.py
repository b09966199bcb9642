"""How turns, judgements, cached answers and cases become rows of the run store, and back.

One codec per table, shared by every `RunStore` method that reads or writes it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic_core import PydanticSerializationError

from ctxsafe.errors import DataError
from ctxsafe.schema import Case, Judgement, TurnRecord, Usage


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
    """An answer kept in the request cache, with the model the API said served it."""

    response: str | None
    finish_reason: str | None
    usage: Usage
    served_model: str | None = None
    fingerprint: str | None = None


def put_cache(db: sqlite3.Connection, key: str, body: str, value: CachedResponse) -> None:
    db.execute("INSERT OR REPLACE INTO requests (hash, body, answered, response, finish_reason, input_tokens, "
               "output_tokens, created, served_model, served_fingerprint) VALUES (?,?,1,?,?,?,?,?,?,?)",
               (key, body, value.response, value.finish_reason, value.usage.input_tokens,
                value.usage.output_tokens, time.time(), value.served_model, value.fingerprint))


def write_turn(db: sqlite3.Connection, rec: TurnRecord, request_body: str | None, cache_key: str | None,
               served: tuple[str | None, str | None] = (None, None)) -> None:
    """One row per distinct request: its body, and its answer once it has one (the request cache), with
    which model the API said served it (`served`: model, fingerprint).

    Keeping the log and the cache in one table makes a turn cost one keyed insert, not two.
    """
    if cache_key is not None and request_body is not None:
        put_cache(db, cache_key, request_body, CachedResponse(rec.response, rec.finish_reason, rec.usage, *served))
    elif request_body is not None:
        db.execute("INSERT OR IGNORE INTO requests (hash, body, answered, created) VALUES (?, ?, 0, ?)",
                   (rec.request_hash, request_body, time.time()))
    db.execute(
        "INSERT OR REPLACE INTO turns VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (rec.run_id, rec.case_id, rec.step, rec.index, rec.request_hash, rec.response, rec.finish_reason,
         rec.outcome, rec.error, rec.usage.input_tokens, rec.usage.output_tokens, rec.latency_s,
         int(rec.cached), rec.attempts, time.time()))


TURN_COLUMNS = ("run_id, case_id, step, idx, request_hash, response, finish_reason, outcome, error, input_tokens, "
                 "output_tokens, latency_s, cached, attempts")
JUDGEMENT_COLUMNS = "case_id, step, label, score, explanation, raw, parse_status, outcome, error, input_mode"


def turn_from_row(r: tuple[Any, ...]) -> TurnRecord:
    """A turn read back from `TURN_COLUMNS`."""
    return TurnRecord(run_id=r[0], case_id=r[1], step=r[2], index=r[3], request_hash=r[4], response=r[5],
                      finish_reason=r[6], outcome=r[7], error=r[8],
                      usage=Usage(input_tokens=r[9], output_tokens=r[10]), latency_s=r[11], cached=bool(r[12]),
                      attempts=r[13])


def judgement_from_row(run_id: str, judge_id: str, prompt_version: str, r: tuple[Any, ...]) -> Judgement:
    """A judgement read back from `JUDGEMENT_COLUMNS` plus its served model, fingerprint and cached flag."""
    return Judgement(run_id=run_id, case_id=r[0], step=r[1], judge_id=judge_id, prompt_version=prompt_version,
                     label=r[2], score=r[3], explanation=r[4], raw=r[5], parse_status=r[6], outcome=r[7], error=r[8],
                     input_mode=r[9], served_model=r[10], served_fingerprint=r[11],
                     cached=None if r[12] is None else bool(r[12]))


def write_judgement(db: sqlite3.Connection, j: Judgement) -> None:
    db.execute(
        "INSERT OR REPLACE INTO judgements VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (j.run_id, j.case_id, j.step, j.judge_id, j.prompt_version, j.label, j.score, j.explanation, j.raw,
         j.parse_status, j.outcome, j.error, j.input_mode, time.time(), j.served_model, j.served_fingerprint,
         None if j.cached is None else int(j.cached)))
    if j.usage is not None:
        db.execute("INSERT OR REPLACE INTO judge_usage VALUES (?,?,?,?,?,?,?)",
                   (j.run_id, j.case_id, j.step, j.judge_id, j.prompt_version, j.usage.input_tokens,
                    j.usage.output_tokens))
