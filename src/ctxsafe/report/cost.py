"""What a run cost, per role and in total: calls, tokens and currency, recomputed from the store.

The store keeps each call's tokens (judges' since `judge_usage`), not money: the price comes from the
price table (built-in list prices, or `--prices`) for the model each role called. A call to a model
missing from the table, or a call whose tokens were not recorded, has an unknown cost: the role's cost
is then shown as unknown with the priced part beside it, never as zero. Calls answered from the cache count at
their price: this is what the run costs when run fresh (the results file's `spend` is what one command
actually billed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table
from rich.text import Text

from ctxsafe.engine.store import RunStore
from ctxsafe.providers.pricing import Price, PriceTable

ROLE_ORDER = ("model", "defense", "verifier", "guard", "judge")


@dataclass
class RoleCost:
    """One role's calls; `cost` sums the priced calls only, `unpriced` and `untokened` say what it misses."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    unpriced: int = 0
    """Calls to a model with no price in the table."""
    untokened: int = 0
    """Calls whose tokens the store did not record."""
    models: set[str] = field(default_factory=set)

    @property
    def cost_usd(self) -> float | None:
        return None if self.unpriced or self.untokened else self.cost

    def add(self, other: RoleCost) -> None:
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost += other.cost
        self.unpriced += other.unpriced
        self.untokened += other.untokened
        self.models |= other.models

    def as_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
                "cost_usd_priced_part": round(self.cost, 6), "unpriced_calls": self.unpriced,
                "calls_without_tokens": self.untokened, "models": sorted(self.models)}


def money(c: RoleCost) -> str:
    """`$0.1234`, or why the cost is unknown (with the part that is known)."""
    if c.cost_usd is not None:
        return f"${c.cost_usd:.4f}"
    why = []
    if c.unpriced:
        why.append(f"{c.unpriced} calls to a model with no price")
    if c.untokened:
        why.append(f"{c.untokened} calls without recorded tokens")
    return f"unknown (${c.cost:.4f} priced; {', '.join(why)})"


def role_models(config: Mapping[str, Any]) -> dict[str, str]:
    """The model name (`provider:model`) each role of a run called, as the price table reads it."""
    model = str(config.get("model_name") or config.get("model") or "")
    out = {"model": model, "defense": model, "verifier": model}
    policy = config.get("policy") or {}
    verifier = (policy.get("verifier") or {}).get("model")
    if verifier:  # a provider identity, `family|base_url|model`
        family, *_, name = str(verifier).split("|")
        out["verifier"] = f"{family}:{name}" if name else str(verifier)
    guard = policy.get("guard") or {}
    if guard.get("model"):
        out["guard"] = str(guard["model"])
    return out


def _judge_role_and_model(judge_id: str) -> tuple[str, str | None]:
    """`guard:NAME@provider:model` is a guard; `kind:provider:model` a model judge; `kind:rules` calls nothing."""
    if judge_id.startswith("guard:"):
        return "guard", judge_id.partition("@")[2] or None
    rest = judge_id.partition(":")[2]
    return "judge", rest if ":" in rest else None


Tokens = tuple[int | None, int | None]
"""A call's (input, output) tokens as recorded; (None, None) when the provider reported none."""
StepCalls = tuple[str, Tokens, int]
"""(role, tokens, calls): one recorded step (calls 1), or several steps of one role and their summed tokens."""


def billed(outcome: str | None, tokens: Tokens) -> Tokens:
    """A failed call that reported no tokens was not billed (as the budget meter counts it): 0, not unknown."""
    if outcome == "error" and tokens == (None, None):
        return (0, 0)
    return tokens


def step_cost(price: Price | None, tokens: Tokens) -> float | None:
    """One call's cost in USD at `price`; None when the model has no price or the call's tokens were not
    recorded (a free model costs 0 either way)."""
    if price is None:
        return None
    if price.input_per_mtok == 0 and price.output_per_mtok == 0:
        return 0.0
    if tokens == (None, None):
        return None
    return ((tokens[0] or 0) * price.input_per_mtok + (tokens[1] or 0) * price.output_per_mtok) / 1_000_000


def _charge(slot: RoleCost, price: Price | None, tokens: Tokens, calls: int = 1) -> None:
    """Charge `calls` calls that used `tokens` together ((None, None): none of them recorded tokens).
    Prices are linear in tokens, so a group of calls costs what its calls cost one by one."""
    slot.calls += calls
    slot.input_tokens += tokens[0] or 0
    slot.output_tokens += tokens[1] or 0
    cost = step_cost(price, tokens)
    if cost is not None:
        slot.cost += cost
    elif price is None:
        slot.unpriced += calls
    else:
        slot.untokened += calls


JudgeCalls = dict[tuple[str, str], tuple[int, list[Tokens]]]
"""(judge id, prompt version) -> (judgements stored, the recorded tokens of those that have them)."""


def judge_calls(store: RunStore, run_id: str) -> JudgeCalls:
    """What the cost needs from the judgements table, read while the store is open."""
    return {(j, v): (store.judgement_count(run_id, j, v), store.judge_usage(run_id, j, v))
            for j, v in store.judges_of(run_id)}


def run_cost(config: Mapping[str, Any], steps: Iterable[StepCalls], judged: JudgeCalls,
             prices: PriceTable) -> dict[str, RoleCost]:
    """Role -> cost of one run. `steps` are the run's recorded calls as (role, tokens, calls): one per step,
    or a group of steps and their summed tokens (a pipeline's kept reply, role `final`, is not a call);
    `judged` its judgements (judges and guard classifiers), one call each."""
    models = role_models(config)
    out: dict[str, RoleCost] = {}
    price_of: dict[str, Price | None] = {}

    def slot(role: str, model: str) -> tuple[RoleCost, Price | None]:
        if model not in price_of:
            price_of[model] = prices.price_of(model)
        cost = out.setdefault(role, RoleCost())
        cost.models.add(model)
        return cost, price_of[model]

    for role, tokens, calls in steps:
        if role == "final":
            continue
        _charge(*slot(role, models.get(role, models["model"])), tokens, calls)
    for (judge_id, _), (n, recorded) in judged.items():
        role, model = _judge_role_and_model(judge_id)
        if model is None:
            continue  # rules, not a model: no call
        cost, price = slot(role, model)
        for tokens in [*recorded, *[(None, None)] * max(0, n - len(recorded))]:
            _charge(cost, price, tokens)
    return dict(sorted(out.items(), key=lambda kv: (ROLE_ORDER.index(kv[0]) if kv[0] in ROLE_ORDER else 99, kv[0])))


def total(roles: Mapping[str, RoleCost]) -> RoleCost:
    out = RoleCost()
    for c in roles.values():
        out.add(c)
    return out


def cost_document(roles: Mapping[str, RoleCost]) -> dict[str, Any]:
    """For the results file: per role and in total."""
    return {"roles": {r: c.as_dict() for r, c in roles.items()}, "total": total(roles).as_dict()}


def cost_table(runs: Iterable[tuple[str, Mapping[str, RoleCost]]]) -> Table:
    """The terminal view: one row per run and role, and the run's total."""
    t = Table(title="Calls, tokens and cost by role (list prices; cached calls counted: the run's cost fresh)")
    for col in ("run", "role", "calls", "input tokens", "output tokens", "cost (USD)", "priced as"):
        t.add_column(col, justify="right" if col in ("calls", "input tokens", "output tokens") else "left")
    for run_id, roles in runs:
        for role, c in [*roles.items(), ("total", total(roles))]:
            t.add_row(Text(run_id), role, str(c.calls), str(c.input_tokens), str(c.output_tokens), Text(money(c)),
                      Text(", ".join(sorted(c.models))))
    return t
