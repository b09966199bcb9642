"""Keep API keys out of logs, the run store, reports and error messages."""

from __future__ import annotations

import re

_SECRETS: set[str] = set()
_KEYLIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|sk-ant-[A-Za-z0-9_\-]{8,}|AIza[0-9A-Za-z_\-]{20,})")


def register_secret(secret: str | None) -> None:
    """Remember a secret so that every later `redact` call masks it."""
    if secret and len(secret) >= 4:
        _SECRETS.add(secret)


def redact_secrets(text: str) -> str:
    """Mask the registered (configured) secret values only: used on stored text such as a model's reply
    that echoes a key, where anything else must stay exact."""
    for s in _SECRETS:
        if s in text:
            text = text.replace(s, "***")
    return text


def redact(text: str) -> str:
    """Mask registered secrets and anything shaped like a provider key (for logs, errors and the terminal)."""
    return _KEYLIKE.sub("***", redact_secrets(text))
