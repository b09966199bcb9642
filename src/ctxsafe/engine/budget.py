"""Tokens and cost of the calls a run makes, per role, and the budget that stops it.

One meter per command, reached through a context variable so every Caller (model, judge,
verifier) charges it without new plumbing through the suites. Cache hits cost nothing and never
reach the meter. When the budget is spent no new call starts: calls in flight finish and are
recorded, so re-running the same command resumes exactly where the run stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from ctxsafe.errors import CtxsafeError
from ctxsafe.providers.pricing import PriceTable
from ctxsafe.schema import Usage


class BudgetReached(CtxsafeError):
    """The run spent its --max-cost; everything finished so far is stored and resumable."""


@dataclass
class Spend:
    """What one role's fresh calls used."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    unpriced_calls: int = 0
    """Calls to a model missing from the price table: their cost is unknown, not zero."""

    def as_dict(self) -> dict[str, float | int | None]:
        return {"calls": self.calls, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cost_usd": round(self.cost, 6) if not self.unpriced_calls else None,
                "cost_usd_priced_part": round(self.cost, 6), "unpriced_calls": self.unpriced_calls}


class Meter:
    """Sums usage and cost per role for one command; enforces `max_cost` (USD) when given."""

    def __init__(self, prices: PriceTable | None = None, max_cost: float | None = None) -> None:
        self.prices = prices or PriceTable()
        self.max_cost = max_cost
        self.roles: dict[str, Spend] = {}

    @property
    def total_cost(self) -> float:
        return sum(s.cost for s in self.roles.values())

    def check(self) -> None:
        """Refuse to start a call once the budget is spent."""
        if self.max_cost is not None and self.total_cost >= self.max_cost:
            raise BudgetReached(
                f"budget reached: ${self.total_cost:.4f} spent of --max-cost ${self.max_cost:.4f}; every finished "
                "step is stored, re-run the same command (with a larger --max-cost) to resume")

    def charge(self, role: str, provider_name: str, usage: Usage | None, *, batch: bool = False) -> None:
        """Count one fresh call; `usage` None means it failed (nothing billed); `batch`: at the batch price."""
        spend = self.roles.setdefault(role, Spend())
        spend.calls += 1
        if usage is None:
            return
        spend.input_tokens += usage.input_tokens or 0
        spend.output_tokens += usage.output_tokens or 0
        cost = self.prices.cost(provider_name, usage, batch=batch)
        if cost is None:
            spend.unpriced_calls += 1
        else:
            spend.cost += cost

    def snapshot(self) -> dict[str, Spend]:
        return {r: Spend(**vars(s)) for r, s in self.roles.items()}

    def since(self, before: dict[str, Spend]) -> dict[str, object]:
        """The summary of what was spent after `before` (one run of a multi-model command)."""
        delta = Meter(self.prices, self.max_cost)
        for role, s in self.roles.items():
            b = before.get(role, Spend())
            delta.roles[role] = Spend(s.calls - b.calls, s.input_tokens - b.input_tokens,
                                      s.output_tokens - b.output_tokens, s.cost - b.cost,
                                      s.unpriced_calls - b.unpriced_calls)
        return delta.summary()

    def summary(self) -> dict[str, object]:
        """Per role and in total, for the results file and the terminal."""
        total = Spend()
        for s in self.roles.values():
            total.calls += s.calls
            total.input_tokens += s.input_tokens
            total.output_tokens += s.output_tokens
            total.cost += s.cost
            total.unpriced_calls += s.unpriced_calls
        return {"roles": {r: s.as_dict() for r, s in sorted(self.roles.items())}, "total": total.as_dict(),
                "max_cost_usd": self.max_cost}


@dataclass(frozen=True)
class RunLimits:
    """Shared run options about money and inputs: budget, dry run, price table, text-only models."""

    max_cost: float | None = None
    dry_run: bool = False
    prices: Path | None = None
    text_only: bool = False
    """Declare the models under test text-only: a run with image cases stops before its first call."""
    batch: bool = False
    """Send the calls through the providers' batch APIs (half price, answered within 24 hours)."""
    batch_poll_s: float = 30.0
    """Seconds between two status requests of a batch in flight."""


def describe(summary: dict[str, object]) -> str:
    """One line per role, for the terminal: calls, tokens and cost (unknown when any call is unpriced)."""
    lines = []
    roles = summary["roles"]
    assert isinstance(roles, dict)
    for role, s in {**roles, "total": summary["total"]}.items():
        cost = s["cost_usd"]
        money = f"${cost:.4f}" if cost is not None else (
            f"unknown (${s['cost_usd_priced_part']:.4f} priced, {s['unpriced_calls']} calls to unpriced models)")
        lines.append(f"{role}: {s['calls']} calls, {s['input_tokens']} input + {s['output_tokens']} output tokens, "
                     f"cost {money}")
    return "; ".join(lines)


_CURRENT: ContextVar[Meter | None] = ContextVar("ctxsafe_meter", default=None)


def current() -> Meter | None:
    return _CURRENT.get()


@contextmanager
def metering(meter: Meter) -> Iterator[Meter]:
    """Make `meter` the one every Caller charges within this block (and the tasks it starts)."""
    token = _CURRENT.set(meter)
    try:
        yield meter
    finally:
        _CURRENT.reset(token)
