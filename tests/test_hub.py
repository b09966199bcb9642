"""A hub path with no network fails within seconds, naming the dataset and the flag for a local copy."""

from __future__ import annotations

import pytest

from ctxsafe.errors import CtxsafeError
from ctxsafe.suites.hub import local_or_hub
from tests.ports import closed_port


def test_unreachable_hub_names_dataset_and_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(CtxsafeError, match=r"cannot fetch dataset sinwang/SIUO .*unreachable.*--data PATH"):
        local_or_hub("hf://", "sinwang/SIUO")


def test_offline_mode_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CtxsafeError, match=r"owner/other.*HF_HUB_OFFLINE.*--data PATH"):
        local_or_hub("hf://owner/other", "sinwang/SIUO")


def test_a_missing_local_folder_is_named(tmp_path: object) -> None:
    with pytest.raises(CtxsafeError, match="does not exist"):
        local_or_hub("/no/such/folder", "sinwang/SIUO")
