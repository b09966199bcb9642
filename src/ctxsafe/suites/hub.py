"""Fetching a published benchmark from the Hugging Face hub, failing fast when it cannot be reached.

Why: without a network, huggingface_hub retries for a long time before it gives up; a user should
learn within seconds which dataset could not be fetched and which flag points at a local copy.
The snapshot is then read by the same loader as a local folder, so both paths check the same layout.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from ctxsafe.errors import ConfigError, CtxsafeError

HF_PREFIX = "hf://"
REACH_TIMEOUT_S = 3.0


def _unreachable(why: str, repo_id: str, flag: str) -> CtxsafeError:
    return CtxsafeError(f"cannot fetch dataset {repo_id} from the Hugging Face hub ({why}); download it where "
                        f"there is a network and pass the local folder with {flag} PATH")


def _check_reachable(repo_id: str, flag: str) -> None:
    """One short TCP connect to the hub's host: no network fails here, in seconds, not after retries."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes"):
        raise _unreachable("HF_HUB_OFFLINE is set", repo_id, flag)
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=REACH_TIMEOUT_S):
            pass
    except OSError as exc:
        raise _unreachable(f"{host}:{port} unreachable: {exc}", repo_id, flag) from exc


def snapshot(repo_id: str, flag: str = "--data") -> Path:
    """The dataset repository's files on disk (downloaded once, then cached by huggingface_hub)."""
    _check_reachable(repo_id, flag)
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise ConfigError(f"loading {repo_id} from the hub needs huggingface_hub: pip install 'ctxsafe[hub]', "
                          f"or pass a local copy with {flag} PATH") from exc
    try:
        return Path(snapshot_download(repo_id=repo_id, repo_type="dataset"))
    except Exception as exc:
        raise _unreachable(str(exc), repo_id, flag) from exc


def local_or_hub(data: str, default_repo: str, flag: str = "--data") -> Path:
    """`hf://owner/name` (`hf://` alone: the official dataset) fetched; anything else a local folder."""
    if data.startswith(HF_PREFIX):
        return snapshot(data[len(HF_PREFIX):] or default_repo, flag)
    root = Path(data)
    if not root.is_dir():
        raise CtxsafeError(f"data folder {root} does not exist or is not a folder")
    return root


def resolve_data(data: str, repo: str | None, suite: str, flag: str = "--data") -> Path:
    """A suite's `--data`: the hub (for suites published there) or a local folder or file. A hub path
    for a suite that has no hub source fails at once, naming the flag that takes a local copy."""
    if repo is not None and (data.startswith(HF_PREFIX) or not Path(data).is_file()):
        return local_or_hub(data, repo, flag)  # a file (e.g. XSTest's CSV) goes to the loader as given
    if data.startswith(HF_PREFIX):
        raise ConfigError(f"{suite} is not published on the Hugging Face hub; download its release and pass "
                          f"the local copy with {flag} PATH (see docs/{suite}.md)")
    path = Path(data)
    if not path.exists():
        raise CtxsafeError(f"data path {path} does not exist")
    return path
