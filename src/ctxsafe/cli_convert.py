"""`ctxsafe convert SUITE --data PATH --out DIR`: a release's cases as a native suite, and `ctxsafe schema`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ctxsafe.cli_common import console, user_errors
from ctxsafe.convert import native_schema, write_native
from ctxsafe.errors import ConfigError
from ctxsafe.images import ImageStore
from ctxsafe.suites.protocol import CommonOptions
from ctxsafe.suites.registry import get_suite


def convert(
    suite: Annotated[str, typer.Argument(help="The suite whose release layout --data is in (see `ctxsafe list`).")],
    out: Annotated[Path, typer.Option(help="Folder to write cases.jsonl and images/ into.")],
    data: Annotated[str | None, typer.Option(help="The release folder (or file), as `ctxsafe run SUITE` takes it.")]
    = None,
    setting: Annotated[str | None, typer.Option(help="The suite's --setting, where it has one.")] = None,
) -> None:
    """Convert a benchmark release into the native JSONL format (checked exactly as `run` checks it)."""
    with user_errors():
        s = get_suite(suite)
        extra = {o.name: o.default for o in s.options}
        if setting is not None:
            if "setting" not in extra:
                raise ConfigError(f"{suite} has no --setting")
            extra["setting"] = setting
        images = ImageStore()
        cases = list(s.prepare(CommonOptions(data=data), extra, images).cases)
        path = write_native(cases, images, out)
    console.print(f"wrote {len(cases)} cases to {path}; run them with: ctxsafe run native --data {path}")


def schema(
    out: Annotated[Path | None, typer.Option(help="Write the schema here instead of printing it.")] = None,
) -> None:
    """Print the JSON Schema of the native format (one JSONL line), with its version."""
    text = json.dumps(native_schema(), indent=2, sort_keys=True) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
