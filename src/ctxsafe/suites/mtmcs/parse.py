"""Strict readers for model answers: MCQ letters, true/false, and the judges' JSON.

Each reader returns a value or None. None means "unparseable" and is counted as such, never
guessed: the released code read "Answer: B" as A (it took the first A-G anywhere) and fell back
to the first digit 1-5 in a judge's text; both turn noise into plausible-looking numbers.
"""

from __future__ import annotations

import json
import re
from typing import Any

PARSER_VERSION = "mtmcs-parse-v2"

_MARKUP = re.compile(r"[*_`#]+")
_WS = re.compile(r"\s+")


def _clean(text: str) -> str:
    return _WS.sub(" ", _MARKUP.sub("", text or "")).strip()


# --------------------------------------------------------------------------- multiple choice

# Letter tokens: a bracketed letter, an upper-case letter, or a lower-case one that ends the answer
# ("answer: b"), so "the answer is a hard one" is not read as A.
_TOKEN = (r"(?:\(\s*([A-Za-z])\s*\)|\[\s*([A-Za-z])\s*\]|(?-i:([A-Z]))(?![A-Za-z0-9'])"
          r"|(?-i:([a-z]))(?=\s*[.)]?\s*$))")
_BARE = re.compile(r"^(?:option\s+)?[(\[]?\s*([A-Za-z])\s*[)\]]?\s*[.:)]?$", re.IGNORECASE)
_MARKED = re.compile(
    r"(?:\b(?:final\s+|correct\s+|best\s+)?answer\b\s*(?:is|would\s+be|:|-|=)?\s*:?\s*"
    r"|\b(?:the\s+)?(?:correct|best|right)\s+(?:option|choice)\s+is\s*:?\s*"
    r"|\bi\s+(?:choose|pick|select|would\s+choose|would\s+pick)\s*:?\s*(?:option\s+)?)"
    r"(?:option\s+)?" + _TOKEN,
    re.IGNORECASE,
)
_LEADING = re.compile(r"^(?:option\s+)?(?:\(\s*([A-Za-z])\s*\)|\[\s*([A-Za-z])\s*\]|([A-Z])\s*[.):\-])\s*\S",
                      re.IGNORECASE)
_OPTION_WORD = re.compile(r"\boption\s+" + _TOKEN, re.IGNORECASE)


def _letter(groups: tuple[str | Any, ...]) -> str:
    return next(g for g in groups if g).upper()


def _agree(letters: list[str]) -> str | None:
    distinct = set(letters)
    return letters[0] if len(distinct) == 1 else None


_HEDGE_WORD = re.compile(r"\b(?:or|though|although|but|also|possibly|maybe|perhaps|either|wait|actually|alternatively|"
                         r"not\s+sure|could\s+be|might\s+be)\b", re.IGNORECASE)
_OTHER_LETTER = re.compile(r"\(\s*([A-Z])\s*\)|(?<![A-Za-z'])([A-Z])(?![A-Za-z0-9'])")


def _hedged_letter(clean: str, letter: str, valid: set[str]) -> bool:
    """'B, though D is possible' / 'B (or possibly C)': a hedge word and another option letter."""
    if not _HEDGE_WORD.search(clean):
        return False
    others = {g for m in _OTHER_LETTER.finditer(clean) for g in m.groups() if g} & valid
    return bool(others - {letter})


def parse_mcq(text: str, options: tuple[str, ...] | list[str]) -> str | None:
    """The chosen letter (see parse_mcq_unhedged), or None when the answer hedges towards another option."""
    letter = parse_mcq_unhedged(text, options)
    if letter is None:
        return None
    valid = {chr(ord("A") + i) for i in range(len(options))}
    return None if _hedged_letter(_clean(text), letter, valid) else letter


def parse_mcq_unhedged(text: str, options: tuple[str, ...] | list[str]) -> str | None:
    """The chosen letter, or None when the answer is absent, ambiguous or outside the options.

    Accepted: a bare letter ("B", "b", "(B)", "B."), an explicit marker ("Answer: B", "The answer is
    (B)", "I choose option B"), a leading labelled letter ("B. Because ..."), or the exact text of one
    option. Conflicting markers or "A or B" are failures.
    """
    n = len(options)
    valid = {chr(ord("A") + i) for i in range(n)}
    clean = _clean(text)
    if not clean:
        return None

    def check(letter: str | None) -> str | None:
        return letter if letter in valid else None

    bare = _BARE.match(clean)
    if bare:
        return check(bare.group(1).upper())
    marked = [_letter(m.groups()) for m in _MARKED.finditer(clean)]
    if marked:
        return check(_agree(marked))
    lead = _LEADING.match(clean)
    if lead and not re.match(r"^[A-Z]\s*[.):\-]\s*(?:or|and|/)\s", clean, re.IGNORECASE):
        letter = _letter(lead.groups())
        if lead.group(3) is None or lead.group(3).isupper():
            return check(letter)
    norm = clean.lower().rstrip(".")
    exact = [chr(ord("A") + i) for i, opt in enumerate(options) if _clean(opt).lower().rstrip(".") == norm]
    if len(exact) == 1:
        return exact[0]
    worded = [_letter(m.groups()) for m in _OPTION_WORD.finditer(clean)]
    if worded:
        return check(_agree(worded))
    return None


# --------------------------------------------------------------------------- true / false

_TF_WORD = {"true": True, "false": False, "yes": True, "no": False, "correct": True, "incorrect": False}
_TF_BARE = re.compile(r"^(true|false|yes|no)\s*[.!]?$", re.IGNORECASE)
_TF_MARKED = re.compile(r"\b(?:final\s+)?answer\b\s*(?:is|:|-|=)?\s*:?\s*(true|false|yes|no)\b", re.IGNORECASE)
_TF_LEADING = re.compile(r"^(true|false)\b\s*[.,:;!\-]", re.IGNORECASE)
_TF_STATED = re.compile(r"\b(?:statement|it|this|that)\s+is\s+(not\s+)?(true|false|correct|incorrect)\b",
                        re.IGNORECASE)


_TF_ANY = re.compile(r"\b(true|false|yes|no|correct|incorrect)\b", re.IGNORECASE)


def parse_tf(text: str) -> bool | None:
    """True/False (Yes/No accepted), or None when absent, contradictory ("True or false?") or hedged
    ("True. Wait, no, False.", "True, but possibly false"): a hedge word with both values named."""
    value = _parse_tf_unhedged(text)
    if value is None:
        return None
    clean = _clean(text)
    named = {_TF_WORD[w.lower()] for w in _TF_ANY.findall(clean) if w.lower() not in ("yes", "no")}
    if _HEDGE_WORD.search(clean) and len(named) > 1:
        return None
    return value


def _parse_tf_unhedged(text: str) -> bool | None:
    clean = _clean(text)
    if not clean:
        return None
    bare = _TF_BARE.match(clean)
    if bare:
        return _TF_WORD[bare.group(1).lower()]
    marked = {_TF_WORD[m.group(1).lower()] for m in _TF_MARKED.finditer(clean)}
    if marked:
        return marked.pop() if len(marked) == 1 else None
    lead = _TF_LEADING.match(clean)
    if lead:
        return _TF_WORD[lead.group(1).lower()]
    stated = {(not _TF_WORD[m.group(2).lower()]) if m.group(1) else _TF_WORD[m.group(2).lower()]
              for m in _TF_STATED.finditer(clean)}
    if len(stated) == 1:
        return stated.pop()
    return None


# --------------------------------------------------------------------------- judge JSON

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL | re.IGNORECASE)


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every top-level JSON object in `text` (the whole text, a fenced block, or objects inside prose)."""
    raw = (text or "").strip()
    fence = _FENCE.match(raw)
    if fence:
        raw = fence.group(1)
    try:
        whole = json.loads(raw)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        return [whole]
    found: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    i = raw.find("{")
    while i != -1:
        try:
            obj, end = decoder.raw_decode(raw, i)
        except ValueError:
            i = raw.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            found.append(obj)
        i = raw.find("{", end)
    return found


def _one(text: str, key: str) -> tuple[dict[str, Any] | None, str | None]:
    objs = [o for o in json_objects(text) if key in o]
    if not objs:
        return None, f"no JSON object with a {key!r} field"
    if len({json.dumps(o.get(key)) for o in objs}) > 1:
        return None, f"several JSON objects with different {key!r} values"
    return objs[0], None


def parse_score(text: str) -> tuple[int | None, str | None, str | None]:
    """(score 1-5, explanation, error). Only a JSON `score` that is an integer 1..5 counts."""
    obj, err = _one(text, "score")
    if obj is None:
        return None, None, err
    value = obj["score"]
    if isinstance(value, bool) or not isinstance(value, int | float) or float(value) != int(value):
        return None, None, f"score {value!r} is not an integer"
    score = int(value)
    if not 1 <= score <= 5:
        return None, None, f"score {score} is outside 1-5"
    explanation = obj.get("explanation")
    return score, explanation if isinstance(explanation, str) else None, None


def parse_turn_label(text: str, labels: tuple[str, ...]) -> tuple[int | None, str | None, str | None]:
    """(label index, explanation, error) for the per-turn classification JSON."""
    obj, err = _one(text, "label")
    if obj is None:
        return None, None, err
    value = obj["label"]
    name = value.strip().lower() if isinstance(value, str) else None
    if name not in labels:
        return None, None, f"label {value!r} is not one of {', '.join(labels)}"
    explanation = obj.get("explanation")
    return labels.index(name), explanation if isinstance(explanation, str) else None, None
