"""The normalisation table: each guard's own category codes -> ctxsafe's common category names.

Guards use different taxonomies (MLCommons S-codes, LlavaGuard O-codes, Qwen3Guard names, OpenAI
moderation keys). Tables compare guards per common category; the guard's own codes are kept beside
them in every verdict. A code missing from the table maps to `other`, never to nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

COMMON = ("violence", "weapons", "crime", "sexual", "child_sexual", "nudity", "hate", "harassment", "self_harm",
          "privacy", "specialized_advice", "defamation", "intellectual_property", "elections", "code_abuse",
          "dangerous", "unethical", "political", "jailbreak", "animal_cruelty", "disaster", "other")

# MLCommons hazard codes as Llama Guard 3 (S1-S13 for Vision, S14 for text) and Llama Guard 4 number them.
LLAMA_GUARD: Mapping[str, str] = {
    "S1": "violence", "S2": "crime", "S3": "sexual", "S4": "child_sexual", "S5": "defamation",
    "S6": "specialized_advice", "S7": "privacy", "S8": "intellectual_property", "S9": "weapons", "S10": "hate",
    "S11": "self_harm", "S12": "sexual", "S13": "elections", "S14": "code_abuse",
}

QWEN3GUARD: Mapping[str, str] = {
    "violent": "violence", "non-violent illegal acts": "crime", "sexual content or sexual acts": "sexual",
    "pii": "privacy", "suicide & self-harm": "self_harm", "unethical acts": "unethical",
    "politically sensitive topics": "political", "copyright violation": "intellectual_property",
    "jailbreak": "jailbreak",
}

LLAVAGUARD: Mapping[str, str] = {
    "O1": "hate", "O2": "violence", "O3": "sexual", "O4": "nudity", "O5": "crime", "O6": "weapons",
    "O7": "self_harm", "O8": "animal_cruelty", "O9": "disaster",
}

SHIELDGEMMA: Mapping[str, str] = {"dangerous": "dangerous", "sexual": "sexual", "violence": "violence"}

OPENAI_MODERATION: Mapping[str, str] = {
    "harassment": "harassment", "harassment/threatening": "harassment", "hate": "hate",
    "hate/threatening": "hate", "illicit": "crime", "illicit/violent": "crime", "self-harm": "self_harm",
    "self-harm/intent": "self_harm", "self-harm/instructions": "self_harm", "sexual": "sexual",
    "sexual/minors": "child_sexual", "violence": "violence", "violence/graphic": "violence",
}

TABLES: Mapping[str, Mapping[str, str]] = {
    "llama-guard": LLAMA_GUARD, "qwen3guard": QWEN3GUARD, "llavaguard": LLAVAGUARD, "shieldgemma": SHIELDGEMMA,
    "openai-moderation": OPENAI_MODERATION,
}


def normalise(table: Mapping[str, str], codes: Iterable[str]) -> tuple[str, ...]:
    """Common names for `codes`, in first-seen order, without repeats; unknown codes become `other`."""
    lowered = {k.lower(): v for k, v in table.items()}
    out = [lowered.get(c.strip().lower(), "other") for c in codes]
    return tuple(dict.fromkeys(out))
