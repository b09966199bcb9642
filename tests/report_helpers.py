"""Shared fixtures for the report tests: synthetic runs with planted hostile replies, and a real demo run."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ctxsafe.cli import app
from ctxsafe.testing.synthetic_store import synthetic_run

PLANTED = (
    "<script>window.__pwned = 'script'</script>plain words after a script tag",
    "<img src=x onerror=\"window.__pwned = 'onerror'\"> an image with an onerror attribute",
    "[click me](javascript:window.__pwned='link') and a bare javascript:alert(1) link",
    "</script><script>window.__pwned = 'breakout'</script> trying to close the data element",
    "![remote](http://127.0.0.1:{port}/remote.png) a remote image in markdown, <img src=\"http://127.0.0.1:{port}/x.png\">",
    "<!-- a comment --> &amp; entities &lt;b&gt; and a line separator \u2028 inside",
)


def two_runs(store: Path, n_cases: int = 200, port: int = 9) -> tuple[str, str]:
    planted = [p.replace("{port}", str(port)) for p in PLANTED]
    a = synthetic_run(store, "run-a", n_cases, model="synthetic:alpha", planted=planted, seed=0)
    b = synthetic_run(store, "run-b", n_cases, model="synthetic:beta", seed=1)
    return a, b


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    ok = result.exit_code == 0 or (result.exit_code == 3 and "finished with errors" in result.output)
    assert ok, result.output + repr(result.exception)  # 3: the synthetic runs plant failed steps
    return result.output


def demo_runs(tmp_path: Path) -> tuple[Path, list[str]]:
    """The bundled MSSBench demo, run with two offline baselines and the offline judge."""
    store = tmp_path / "demo.sqlite"
    cli("run", "mssbench", "--model", "ref:always-comply", "--model", "ref:keyword-filter", "--store", str(store),
        "--out", str(tmp_path / "out"), "--no-progress")
    from ctxsafe.engine.store import RunStore

    st = RunStore(store)
    try:
        ids = [r.run_id for r in st.runs()]
    finally:
        st.close()
    return store, ids
