"""The `ctxsafe` command line: generic verbs over every registered suite; this file wires them up.

Each command's module (and what it imports: suites, SDKs, numpy) loads only when that command runs, so
`ctxsafe --help` lists the commands from the one-line summaries below without importing any of them
(issue 12: start-up in well under a second). `ctxsafe COMMAND --help` shows the command's full help.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

COMMANDS: dict[str, tuple[str, str, str]] = {
    # name: (module, attribute: a typer command function or a typer.Typer group, one-line summary for --help)
    "run": ("ctxsafe.cli_run", "run_app", "Run a benchmark suite (resumes automatically when re-run with the "
                                          "same options)."),
    "report": ("ctxsafe.cli_reports", "report", "Recompute runs' metrics from the store alone; optionally write "
                                                "one HTML report with a dialogue browser."),
    "show": ("ctxsafe.cli_views", "show", "Print a run's cases in full: images, every turn and step, every "
                                          "judge's label, the twin beside each case."),
    "runs": ("ctxsafe.cli_reports", "runs", "List the runs in the store as a table."),
    "compare": ("ctxsafe.cli_reports", "compare", "Compare runs of one suite on the same cases: leaderboard, paired "
                                                  "differences, McNemar, disagreements, published numbers."),
    "export": ("ctxsafe.cli_reports", "export", "Write one row per case, step and judge role for notebooks and "
                                                "spreadsheets."),
    "list": ("ctxsafe.cli_views", "list_things", "Name the suites (with their settings and options), the providers "
                                                 "and the defenses."),
    "convert": ("ctxsafe.cli_convert", "convert", "Convert a benchmark release into the native JSONL format."),
    "schema": ("ctxsafe.cli_convert", "schema", "Print the JSON Schema of the native format, with its version."),
    "effect": ("ctxsafe.cli_effect", "effect", "Paired effect of CHANGED vs REFERENCE on correctness, with 95% CIs."),
    "judge-eval": ("ctxsafe.cli_judge_eval", "judge_eval", "Measure a judge against human labels, with 95% "
                                                                "intervals."),
    "agreement": ("ctxsafe.judges.agreement_command", "agreement", "Agreement between the judges that scored one "
                                                                   "run, and the cases they disagree on."),
    "guards": ("ctxsafe.guards.command", "guards", "The guards of a run, from the store alone: block rates, firing "
                                                   "plot, blocking stages."),
    "defenses": ("ctxsafe.cli_defenses", "defenses", "Recompute the defenses table (bare vs each "
                                                                "defense, paired) from the store alone."),
}


def load_command(name: str) -> Any:
    """Import one command's module and build its click command (what typer would have built up front).

    Typed `Any`: typer builds on its own vendored click, whose classes are not part of its public API."""
    module, attr, _ = COMMANDS[name]
    target = getattr(importlib.import_module(module), attr)
    if isinstance(target, typer.Typer):
        command = typer.main.get_command(target)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class PlainFlags(TyperGroup):
    """A group whose flags (`--help`, shell completion) default to False instead of None: typer passes a None
    flag value through a pydantic TypeAdapter, which imports pydantic (a quarter of a second on a loaded
    machine) just to route `ctxsafe run ...` to its command; a bool value skips that conversion."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.default is None:
                param.default = False
        return params


class LazyCommands(PlainFlags):
    """The top-level group: commands are listed from `COMMANDS` and built only when one is invoked."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        if self._listing:  # the help page needs only the summary
            return TyperCommand(cmd_name, help=COMMANDS[cmd_name][2])
        if cmd_name not in self.commands:
            self.commands[cmd_name] = load_command(cmd_name)
        return self.commands[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(cls=LazyCommands, no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def main() -> None:
    """Contextual-safety evaluation of multimodal LLMs."""
