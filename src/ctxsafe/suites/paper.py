"""The papers' headline numbers a suite ships in its own package (`published.json`), read once: the suite
hands them to the reports (`Suite.paper_numbers`), so the report layer never reads inside suite packages."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from ctxsafe.errors import DataError


@cache
def shipped_numbers(suite: str) -> dict[str, Any]:
    """The suite's published results (empty when it ships none)."""
    try:
        text = resources.files(f"ctxsafe.suites.{suite}").joinpath("published.json").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return {"source": "", "results": []}
    try:
        doc: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"published.json of suite {suite} is not valid JSON: {exc}",
                        file=f"ctxsafe/suites/{suite}/published.json") from exc
    return doc


class PackagedPaperNumbers:
    """`Suite.paper_numbers` for a suite whose numbers are the `published.json` of its own package."""

    name: str

    def paper_numbers(self) -> dict[str, Any]:
        return shipped_numbers(self.name)
