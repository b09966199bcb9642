"""How every hosted provider turns an HTTP failure into a ProviderError: one classification for all SDKs.

Rate limits, timeouts, connection drops and server errors are worth retrying; any other 4xx
(bad request, auth, unknown model, unsupported input) is permanent, so it fails once, clearly.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from ctxsafe.providers.base import ProviderError
from ctxsafe.redact import redact

_RETRYABLE_STATUS = frozenset((408, 409, 429))
_UNSUPPORTED_INPUT = re.compile(
    r"image input is not supported|does not support (image|vision|multimodal)|"
    r"(image|vision|multimodal)[\w ]{0,30}not (supported|enabled)", re.IGNORECASE)


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """The server's wait hint, from ``retry-after-ms`` (OpenAI) or ``retry-after`` (everyone), seconds."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def is_unsupported_input(message: str) -> bool:
    """Whether a server's error text says it cannot take the input (e.g. images to a text-only model)."""
    return _UNSUPPORTED_INPUT.search(message) is not None


_REFUSALS = {401: "authentication failed", 403: "permission denied", 404: "model or endpoint not found"}


def refusal_hint(status: int, key_env: str | None) -> str:
    """What to check after a refusal: the env var that holds the key (and whether it is set), never the key."""
    if status == 404:
        return "check the model name and the base URL"
    where = f"${key_env}" if key_env else "the API key"
    state = "" if not key_env else (" (it is set)" if os.environ.get(key_env) else " (it is not set)")
    return f"check the key in {where}{state}" + (" and its access to this model" if status == 403 else "")


def status_error(status: int, message: str, headers: Mapping[str, str] | None = None, *,
                 provider: str | None = None, key_env: str | None = None) -> ProviderError:
    """A ProviderError for an HTTP error status, with the reason kept (redacted) for the summary.

    401/403/404 are refusals: no request of the run can succeed, so the engine stops the run with one line.
    """
    if is_unsupported_input(message):
        return ProviderError(redact(f"unsupported input (HTTP {status}): {message}"), retryable=False)
    if status in _REFUSALS:
        who = f"{provider}: " if provider else ""
        return ProviderError(redact(f"{who}{_REFUSALS[status]} (HTTP {status}: {message}); "
                                    f"{refusal_hint(status, key_env)}"), retryable=False, refused=True)
    if status == 429:
        return ProviderError(redact(f"rate limited (429): {message}"), retryable=True,
                             retry_after=retry_after(headers), rate_limited=True)
    retryable = status >= 500 or status in _RETRYABLE_STATUS
    return ProviderError(redact(f"HTTP {status}: {message}"), retryable=retryable, retry_after=retry_after(headers))


def transport_error(exc: BaseException) -> ProviderError:
    """A dropped connection or a timeout below the SDK: always worth another try."""
    if "timeout" in type(exc).__name__.lower() or isinstance(exc, TimeoutError):
        return ProviderError("request timed out", retryable=True)
    return ProviderError(redact(f"connection error: {type(exc).__name__}: {exc}"), retryable=True, unreachable=True)
