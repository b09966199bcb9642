"""The native suite behind the Suite protocol: your own cases from a JSONL file, paired or not.

Each dialogue's final turn is judged in the four-class label space (shared through the generic
`suites/single_label.py`). Safe/unsafe twins (a shared `pair_id`) are scored as pairs: a safe twin is
right when the final reply answers (labels 2, 3), an unsafe twin when it refuses or shows risk
awareness (0, 1). Cases without a twin are scored on their own side's shape (`suites/shaped.py`):
unsafe-only (refusal / safe-response rate) or benign-only (over-refusal rate), never as half pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ctxsafe.errors import ConfigError
from ctxsafe.images import ImageStore
from ctxsafe.providers.base import GenParams
from ctxsafe.suites.native.loader import SETTING, SUITE, iter_native
from ctxsafe.suites.protocol import CommonOptions, Prepared, ScoringShape
from ctxsafe.suites.shaped import ShapedSuite

FORMAT_VERSION = "native-v1"


class NativeSuite(ShapedSuite):
    name = SUITE
    summary = "Your own cases (JSONL, single- or multi-turn, with images, replayed turns): paired or one side."
    shape: ScoringShape = "paired"
    settings: Mapping[str, str] = MappingProxyType({
        SETTING: "every dialogue played turn by turn (replayed turns sent verbatim); the final turn judged "
                 "four-class; twins scored as pairs, unpaired cases unsafe-only or benign-only"})
    data_help = "A native suite JSONL file (see docs/native-suite.md); image paths are relative to its folder."
    title = "Native suite"

    def prepare(self, common: CommonOptions, extra: dict[str, Any], images: ImageStore) -> Prepared:
        if common.data is None:
            raise ConfigError("`ctxsafe run native` needs --data FILE (a native suite JSONL file)")
        if common.faithful:
            raise ConfigError("the native suite has no published protocol to reproduce; drop --faithful")
        path = Path(common.data)
        params = GenParams(temperature=0.0 if common.temperature is None else common.temperature,
                           max_tokens=common.max_tokens, seed=common.seed)
        identity = {"data": path.name, "format": FORMAT_VERSION}
        return Prepared(cases=iter_native(path, images, common.limit), setting=SETTING, params=params,
                        identity=identity, title=f"Native suite {path.name}")


NATIVE = NativeSuite()
