"""Start-up stays light: `import ctxsafe.cli`, `ctxsafe --help` and a configuration error never import the
heavy libraries (SDKs, numpy/scipy, Pillow, torch...); they load where they are used (issue 12).

Asserts which modules are imported, in a fresh interpreter, never how long it takes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("openai", "anthropic", "google.genai", "httpx", "httpx2", "numpy", "scipy", "statsmodels", "PIL", "pandas",
         "pyarrow", "torch", "transformers", "sklearn", "skimage", "huggingface_hub", "datasets")

PROBE = """
import json, sys
from typer.testing import CliRunner
from ctxsafe.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({"exit": result.exit_code, "output": result.output, "modules": sorted(sys.modules)}))
"""


def imported(*argv: str, cwd: Path | None = None) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True, cwd=cwd)
    doc: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return doc


def heavy_in(modules: object) -> list[str]:
    assert isinstance(modules, list)
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = "import json, sys, ctxsafe.cli; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = json.loads(out.stdout)
    assert "ctxsafe.cli" in modules
    assert heavy_in(modules) == []


@pytest.mark.parametrize("argv", [("--help",), ("run", "--help"), ("run", "mssbench", "--help")])
def test_help_loads_no_heavy_library(argv: tuple[str, ...]) -> None:
    doc = imported(*argv)
    assert doc["exit"] == 0 and "Usage" in str(doc["output"])
    assert heavy_in(doc["modules"]) == []


def test_a_misspelt_model_fails_before_any_data_or_sdk_is_loaded(tmp_path: Path) -> None:
    doc = imported("run", "mssbench", "--model", "opnai:gpt-4o", "--store", str(tmp_path / "s.sqlite"),
                   "--out", str(tmp_path / "out"), "--no-progress", cwd=tmp_path)
    assert doc["exit"] == 2 and "unknown provider 'opnai'" in " ".join(str(doc["output"]).split())
    assert heavy_in(doc["modules"]) == []
    assert not (tmp_path / "s.sqlite").exists()  # refused before the store was opened


def test_a_missing_data_folder_fails_without_loading_images_or_sdks(tmp_path: Path) -> None:
    doc = imported("run", "mssbench", "--data", str(tmp_path / "nowhere"), "--model", "openai:gpt-4o",
                   "--store", str(tmp_path / "s.sqlite"), "--no-progress", cwd=tmp_path)
    assert doc["exit"] == 2 and "does not exist" in str(doc["output"])
    assert heavy_in(doc["modules"]) == []


def test_a_run_loads_the_sdk_it_uses() -> None:
    """The check above is not vacuous: building an OpenAI provider does import the SDK."""
    code = ("import sys; from ctxsafe.providers.registry import make_provider; "
            "make_provider('vllm:m'); print('openai' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_top_level_help_builds_no_command() -> None:
    """`ctxsafe --help` lists the commands from their summaries: no suite, store or report module loads."""
    doc = imported("--help")
    modules = doc["modules"]
    assert isinstance(modules, list)
    assert not [m for m in modules if m.startswith(("ctxsafe.suites", "ctxsafe.engine", "ctxsafe.report"))]
    from ctxsafe.cli import COMMANDS

    listed = str(doc["output"])
    assert all(name in listed for name in COMMANDS)


def test_every_listed_command_loads_under_its_name() -> None:
    from ctxsafe.cli import COMMANDS, load_command

    for name in COMMANDS:
        command = load_command(name)
        assert command.name == name and (command.help or "").strip()
