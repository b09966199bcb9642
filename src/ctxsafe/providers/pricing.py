"""What a call costs: a price table per model (USD per million tokens), which users can override.

Local servers and reference models cost nothing; a hosted model missing from the table has an
unknown price, shown as unknown, never as zero. Requests sent through a provider's batch API are
charged at the batch price: half the list price unless the table names one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ctxsafe.errors import DataError
from ctxsafe.schema import Usage

FREE_FAMILIES = frozenset(("ref", "vllm", "sglang", "ollama", "llamacpp", "lmstudio", "hf", "gguf", "local"))


BATCH_DISCOUNT = 0.5
"""OpenAI's Batch API and Anthropic's Message Batches both bill half the list price."""


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens (image tokens are input tokens where reported)."""

    input_per_mtok: float
    output_per_mtok: float
    batch_input_per_mtok: float | None = None
    batch_output_per_mtok: float | None = None
    """The batch API's prices; None means the list price times BATCH_DISCOUNT."""

    def for_batch(self) -> Price:
        return Price(self.input_per_mtok * BATCH_DISCOUNT if self.batch_input_per_mtok is None
                     else self.batch_input_per_mtok,
                     self.output_per_mtok * BATCH_DISCOUNT if self.batch_output_per_mtok is None
                     else self.batch_output_per_mtok)

    def cost(self, usage: Usage) -> float | None:
        if usage.input_tokens is None and usage.output_tokens is None:
            return None
        return ((usage.input_tokens or 0) * self.input_per_mtok
                + (usage.output_tokens or 0) * self.output_per_mtok) / 1_000_000


# List prices (standard tier, no batch or cache discounts) as published by each provider; the
# longest matching model-name prefix wins. Check and override with --prices for current numbers.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "o4-mini": Price(1.10, 4.40),
    "claude-3-5-sonnet": Price(3.00, 15.00),
    "claude-3-7-sonnet": Price(3.00, 15.00),
    "claude-sonnet-4": Price(3.00, 15.00),
    "claude-3-5-haiku": Price(0.80, 4.00),
    "claude-3-haiku": Price(0.25, 1.25),
    "claude-opus-4": Price(15.00, 75.00),
    "gemini-1.5-flash": Price(0.075, 0.30),
    "gemini-1.5-pro": Price(1.25, 5.00),
    "gemini-2.0-flash": Price(0.10, 0.40),
    "gemini-2.5-flash": Price(0.30, 2.50),
    "gemini-2.5-pro": Price(1.25, 10.00),
    "omni-moderation": Price(0.0, 0.0),  # OpenAI's moderation endpoint is free of charge
    "text-moderation": Price(0.0, 0.0),
}


_PRICE_KEYS = frozenset(("input", "output", "batch_input", "batch_output"))


def _maybe(value: float | None) -> float | None:
    return None if value is None else float(value)


class PriceTable:
    """Model-name prefix -> price; user entries (a JSON file) replace or extend the defaults."""

    def __init__(self, prices: dict[str, Price] | None = None) -> None:
        self.prices = dict(DEFAULT_PRICES if prices is None else prices)

    @classmethod
    def load(cls, path: Path | None) -> PriceTable:
        """Defaults, overridden by `path`: {"model-prefix": {"input": USD/Mtok, "output": USD/Mtok}, ...}, each
        optionally with "batch_input" and "batch_output" (default: half the list price)."""
        table = cls()
        if path is None:
            return table
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read the price table: {exc}", file=str(path)) from exc
        if not isinstance(raw, dict):
            raise DataError("the price table must be a JSON object of model -> {input, output}", file=str(path))
        for model, entry in raw.items():
            if (not isinstance(entry, dict) or not {"input", "output"} <= set(entry) <= _PRICE_KEYS
                    or not all(isinstance(v, int | float) and v >= 0 for v in entry.values())):
                raise DataError("each price needs non-negative 'input' and 'output' (USD per million tokens), "
                                "optionally 'batch_input' and 'batch_output'", file=str(path), record=str(model))
            table.prices[str(model)] = Price(float(entry["input"]), float(entry["output"]),
                                             _maybe(entry.get("batch_input")), _maybe(entry.get("batch_output")))
        return table

    def price_of(self, name: str) -> Price | None:
        """The price for a provider name such as `openai:gpt-4o-2024-08-06` or `anthropic/claude-sonnet-4-5`."""
        family, sep, model = name.partition(":")
        if not sep:
            family, _, model = name.partition("/")
        if family in FREE_FAMILIES:
            return Price(0.0, 0.0)
        for key in (name, model):
            if key in self.prices:
                return self.prices[key]
        matches = [k for k in self.prices if model.startswith(k)]
        return self.prices[max(matches, key=len)] if matches else None

    def cost(self, name: str, usage: Usage, *, batch: bool = False) -> float | None:
        """What `usage` cost on model `name`; `batch` for a request sent through a batch API."""
        price = self.price_of(name)
        if price is None:
            return None
        return (price.for_batch() if batch else price).cost(usage)
