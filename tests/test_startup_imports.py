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


def before_any_suite(modules: object) -> None:
    """A configuration error is found from the command line alone: no suite, no store, no pydantic model."""
    assert isinstance(modules, list)
    assert heavy_in(modules) == []
    assert not [m for m in modules if m == "pydantic" or m.startswith(("pydantic.", "ctxsafe.engine",
                                                                       "ctxsafe.schema"))]
    assert not [m for m in modules if m.startswith("ctxsafe.suites.") and m != "ctxsafe.suites.catalog"]


def test_a_misspelt_model_fails_before_any_data_or_sdk_is_loaded(tmp_path: Path) -> None:
    doc = imported("run", "mssbench", "--model", "opnai:gpt-4o", "--store", str(tmp_path / "s.sqlite"),
                   "--out", str(tmp_path / "out"), "--no-progress", cwd=tmp_path)
    assert doc["exit"] == 2 and "unknown provider 'opnai'" in " ".join(str(doc["output"]).split())
    before_any_suite(doc["modules"])
    assert not (tmp_path / "s.sqlite").exists()  # refused before the store was opened


@pytest.mark.parametrize(("argv", "message"), [
    (("--judge=openai", "--setting", "if"), "unknown judge 'openai'"),
    (("--judge", "opnai:gpt-4o"), "unknown provider 'opnai'"),
    (("--setting", "if", "--verifier", "ref:nobody"), "unknown reference model 'nobody'"),
    (("-mref:always-refuse", "-mvllm/m", "-mopnai/x"), "unknown provider 'opnai'"),
    (("--ablation", "no-image"), "--ablation must be one of"),
])
def test_every_early_check_fails_before_any_suite_is_loaded(tmp_path: Path, argv: tuple[str, ...],
                                                            message: str) -> None:
    doc = imported("run", "mssbench", *argv, "--store", str(tmp_path / "s.sqlite"), cwd=tmp_path)
    assert doc["exit"] == 2 and message in " ".join(str(doc["output"]).split())
    before_any_suite(doc["modules"])


def test_a_missing_data_folder_fails_without_loading_images_or_sdks(tmp_path: Path) -> None:
    doc = imported("run", "mssbench", "--data", str(tmp_path / "nowhere"), "--model", "openai:gpt-4o",
                   "--store", str(tmp_path / "s.sqlite"), "--no-progress", cwd=tmp_path)
    assert doc["exit"] == 2 and "does not exist" in str(doc["output"])
    before_any_suite(doc["modules"])
    doc = imported("run", "native", "--data", str(tmp_path / "nowhere.jsonl"), cwd=tmp_path)
    assert doc["exit"] == 2 and "does not exist" in str(doc["output"])
    before_any_suite(doc["modules"])


def test_named_data_and_good_options_pass_the_early_checks(tmp_path: Path) -> None:
    """The early checks refuse nothing the suite accepts: 'demo' is data, hf:// is left to the suite, a flag's
    value that looks like a model is not read as one, and then the run proceeds (--dry-run sends nothing)."""
    from ctxsafe.cli_run import shared_values

    assert shared_values(["--setting", "opnai:x", "--model=vllm:a", "-mref:always-refuse", "--faithful",
                          "--data", "demo", "--", "--model", "z"]) == {
        "model": ["vllm:a", "ref:always-refuse"], "data": ["demo"]}
    doc = imported("run", "mssbench", "--data", "demo", "--limit", "1", "--model", "ref:always-refuse",
                   "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "out"), "--no-progress",
                   "--dry-run", cwd=tmp_path)
    assert doc["exit"] == 0, doc["output"]
    assert "dry run, nothing was sent" in str(doc["output"])


def test_the_catalog_names_every_suite_and_its_named_data() -> None:
    from ctxsafe.suites.catalog import CATALOG
    from ctxsafe.suites.registry import SUITES

    assert list(SUITES) == list(CATALOG)
    for name, suite in SUITES.items():
        assert suite.name == name
        assert suite.default_data is None or suite.default_data in CATALOG[name][2]


def test_the_reference_names_are_the_reference_models() -> None:
    from ctxsafe.providers.reference import REFERENCE_MODELS
    from ctxsafe.providers.specs import REFERENCE_NAMES

    assert tuple(REFERENCE_MODELS) == REFERENCE_NAMES


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


AT_FIRST_CONNECT = """
import json, os, socket, sys

def first_connect(*args):
    print(json.dumps(sorted(sys.modules)), flush=True)
    os._exit(0)

socket.socket.connect = socket.socket.connect_ex = first_connect
sys.argv = ["ctxsafe", *sys.argv[1:]]
from ctxsafe.cli import app
app(prog_name="ctxsafe")
"""


@pytest.mark.parametrize("suite", ["native", "mssbench", "mtmcs"])
def test_a_run_sends_its_first_request_before_loading_what_comes_after_it(tmp_path: Path, suite: str) -> None:
    """Before a run's first request: the SDK, not rich (nothing printed yet without a progress bar), the guards
    (no --guard) or the offline rules (the model has not answered yet); issue 12's first request under 1 s."""
    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps({"id": "a", "turns": ["Hello"], "context": "safe"}) + "\n")
    source = ["--data", str(data), "--judge", "offline-rules"] if suite == "native" else ["--limit", "1"]
    argv = ["run", suite, *source, "--model", "vllm:m", "--base-url", "http://127.0.0.1:9/v1",
            "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "out"), "--no-progress",
            "--max-attempts", "1"]
    out = subprocess.run([sys.executable, "-c", AT_FIRST_CONNECT, *argv], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    assert "openai" in modules and "ctxsafe.engine.store" in modules  # the request is the run's own
    late = [m for m in modules
            if m == "rich" or m.startswith(("rich.", "ctxsafe.guards.", "ctxsafe.judges.offline_rules"))]
    assert [m for m in late if m != "ctxsafe.guards.session"] == []  # the session module holds no guard code


def test_the_consoles_load_rich_when_first_used_and_print_as_before() -> None:
    code = ("import sys; from ctxsafe.cli_common import console; before = 'rich.console' in sys.modules; "
            "console.print('hello [bold]x[/]'); print(before, 'rich.console' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["hello x", "False True"]


def test_the_progress_bar_imports_rich_itself() -> None:
    """`engine.progress` no longer imports rich at the top: the bar still draws, with its error count."""
    import io

    from rich.console import Console

    from ctxsafe.engine.progress import RichProgress

    screen = Console(file=io.StringIO(), force_terminal=True, width=120)
    with RichProgress(screen) as bar:
        bar.start("generate", 3, 0)
        bar.advance()
        bar.advance(error=True)
        bar.advance()
        bar.finish()
    text = screen.file.getvalue()  # type: ignore[attr-defined]
    assert "generate" in text and "1 errors" in text and "3/3" in text
