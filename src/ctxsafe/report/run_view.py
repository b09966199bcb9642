"""One run as the reports see it: its results document and each case's verdict, from one pass over the store.

Export, the HTML report and `compare` all start here, so they agree on which judge scored a run and
on every case's outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ctxsafe.engine.session import display_name
from ctxsafe.engine.store import RunInfo, RunStore
from ctxsafe.errors import ConfigError
from ctxsafe.guards.judge import VERDICT_JUDGE
from ctxsafe.providers.pricing import PriceTable
from ctxsafe.report.cases import JudgeRef, case_outcomes, iter_rows
from ctxsafe.report.cost import JudgeCalls, judge_calls
from ctxsafe.report.document import document_from
from ctxsafe.schema import Case
from ctxsafe.suites.protocol import Suite, SuiteResults

SuiteLookup = Callable[[str | None], Suite]
"""A run's suite by the name its configuration stores. The entry points (CLI, notebook) pass the registry's
`get_suite`, so the report layer works against the Suite protocol and never imports the suites themselves."""


@dataclass(frozen=True)
class RunView:
    store: RunStore
    info: RunInfo
    suite: Suite
    results: SuiteResults
    doc: dict[str, Any]
    judge_calls: JudgeCalls = field(default_factory=dict)
    """The run's judgements per judge and their recorded tokens (for the cost by role)."""
    prices: PriceTable = field(default_factory=PriceTable)
    """The price table the report prices calls with (built-in list prices, or `--prices`)."""

    @cached_property
    def cases(self) -> list[Case]:
        """The run's cases in stored order, read once for every section that needs them (the terminal
        report needs none: its documents were computed while the run streamed past)."""
        return self.store.cases(self.run_id)

    @cached_property
    def outcomes(self) -> dict[str, str]:
        """Case id -> `right`, `wrong`, or why neither (`error`, `parse_fail`, ...); a case without a twin
        by its shape's headline (right: an unsafe item refused or answered safely, a benign item not refused)."""
        verdicts = [*self.results.verdicts, *self.results.side_verdicts]
        return case_outcomes({(v.pair_id, v.context): v.outcome for v in verdicts}, self.cases)

    @property
    def run_id(self) -> str:
        return self.info.run_id

    @property
    def name(self) -> str:
        """The model as reports name it (`provider:model+defense`)."""
        return display_name(self.info.config)

    @property
    def judges(self) -> dict[str, JudgeRef | None]:
        return dict(self.results.judges)

    def rows(self) -> Iterator[dict[str, Any]]:
        """The export rows; a guarded run's guard verdicts come as judge rows (role `guard`) on their sub-steps."""
        verdicts = {f"guard {v}": (j, v) for j, v in self.judge_calls if j == VERDICT_JUDGE}
        return iter_rows(self.store, self.run_id, self.name, self.info.config, self.cases, {**self.judges, **verdicts},
                         self.outcomes, self.prices)


def load_view(store: RunStore, run_id: str, judge: str | None = None, prices: PriceTable | None = None, *,
              suites: SuiteLookup) -> RunView:
    """Recompute one run from the store alone (no model or judge is called)."""
    info = store.run(run_id)
    if info is None:
        raise ConfigError(f"no run {run_id!r} in {store.path}")
    suite = suites(info.config.get("suite"))
    res = suite.results(store, run_id, info.config, judge, list(info.config.get("judges", [])))
    return RunView(store, info, suite, res, document_from(info, suite, res), judge_calls(store, run_id),
                   prices or PriceTable())
