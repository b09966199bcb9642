"""A missing, empty, damaged, full or read-only store is one clear line and exit code 5, never a traceback.

Read-only commands (`report`, `runs`, `show`) never create or change a store. Each damage is made
on a real store written by a real run; each command is the real command line in a subprocess.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ctxsafe.exit_codes import ExitCode

READ_COMMANDS: dict[str, list[str]] = {"runs": ["runs"], "report": ["report", "RUN"], "show": ["show", "RUN"]}


def ctxsafe(*args: str, cwd: Path | None = None, preexec: Callable[[], None] | None = None,
            user: bool = False) -> subprocess.CompletedProcess[str]:
    prefix = unprivileged() if user else []
    return subprocess.run([*prefix, sys.executable, "-m", "ctxsafe", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, preexec_fn=preexec, check=False)


def unprivileged() -> list[str]:
    """Run as `nobody` when the tests run as root (root ignores file permissions)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot test permissions")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def native(folder: Path, pairs: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cases.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{p}-{c}", "pair_id": f"p{p}", "context": c,
                                        "turns": [f"case {p} {c}", "and then?"]}) + "\n"
                            for p in range(pairs) for c in ("safe", "unsafe")), encoding="utf-8")
    return path


def make_store(folder: Path, pairs: int = 2) -> tuple[Path, str]:
    store = folder / "runs.sqlite"
    res = ctxsafe("run", "native", "--data", str(native(folder / "data", pairs)), "-m", "ref:always-refuse",
                  "--store", str(store), "--out", str(folder / "out"), "--no-progress")
    assert res.returncode == 0, res.stderr
    run_id = json.loads(next((folder / "out").glob("*.json")).read_text())["run_id"]
    return store, run_id


def read_args(name: str, store: Path, run_id: str, out: Path) -> list[str]:
    args = [run_id if a == "RUN" else a for a in READ_COMMANDS[name]] + ["--store", str(store)]
    return args + (["--out", str(out)] if name == "report" else [])


def assert_one_clear_line(res: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert res.returncode == code, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr and res.stderr.startswith("error:"), res.stderr
    flat = " ".join(res.stderr.split())
    for w in words:
        assert w in flat, (w, flat)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="ctxsafe-store-"))
    path.chmod(0o777)
    yield path
    for p in [path, *path.rglob("*")]:
        if p.is_dir():
            p.chmod(0o755)
    shutil.rmtree(path)


@pytest.mark.parametrize("name", sorted(READ_COMMANDS))
def test_read_commands_on_a_missing_store_create_nothing(tmp_path: Path, name: str) -> None:
    store = tmp_path / "nowhere" / "runs.sqlite"
    res = ctxsafe(*read_args(name, store, "some-run", tmp_path / "out"))
    assert_one_clear_line(res, ExitCode.STORE, "no run store at", str(store))
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("name", ["run", *sorted(READ_COMMANDS)])
def test_a_zero_byte_store_is_refused_not_treated_as_new(tmp_path: Path, name: str) -> None:
    store = tmp_path / "runs.sqlite"
    store.write_bytes(b"")
    if name == "run":
        res = ctxsafe("run", "native", "--data", str(native(tmp_path / "data")), "-m", "ref:always-refuse",
                      "--store", str(store), "--no-progress")
    else:
        res = ctxsafe(*read_args(name, store, "some-run", tmp_path / "out"))
    assert_one_clear_line(res, ExitCode.STORE, "is empty (0 bytes)")
    assert store.read_bytes() == b"" and not list(tmp_path.glob("runs.sqlite-*"))


def _truncate(store: Path) -> None:
    data = store.read_bytes()
    store.write_bytes(data[: len(data) // 2])


def _flip(store: Path) -> None:
    data = bytearray(store.read_bytes())
    for i in range(4096, 4096 + 512):  # the second page's b-tree header and cell pointers
        data[i] ^= 0xFF
    store.write_bytes(bytes(data))


def _header(store: Path) -> None:
    data = store.read_bytes()
    store.write_bytes(b"this is not sqlite at all" + data[25:])


DAMAGE: dict[str, Callable[[Path], None]] = {"truncated": _truncate, "flipped bytes": _flip,
                                             "overwritten header": _header}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One real store (40 pairs, several pages per table), written once and copied by each test."""
    return make_store(tmp_path_factory.mktemp("pristine"), pairs=40)


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("name", ["run", *sorted(READ_COMMANDS)])
def test_a_damaged_store_is_one_line_and_code_5(tmp_path: Path, pristine: tuple[Path, str], damage: str,
                                                name: str) -> None:
    source, run_id = pristine
    shutil.copytree(source.parent / "data", tmp_path / "data")
    store = tmp_path / "runs.sqlite"
    shutil.copyfile(source, store)
    DAMAGE[damage](store)
    damaged = store.read_bytes()
    if name == "run":
        res = ctxsafe("run", "native", "--data", str(tmp_path / "data" / "cases.jsonl"), "-m",
                      "ref:always-comply", "--store", str(store), "--no-progress")
    else:
        res = ctxsafe(*read_args(name, store, run_id, tmp_path / "report"))
    assert_one_clear_line(res, ExitCode.STORE, str(store))
    if name != "run":
        assert store.read_bytes() == damaged  # a read-only command changed nothing


def test_a_full_disk_is_one_line_and_the_run_resumes_after(tmp_path: Path) -> None:
    data = native(tmp_path / "data", pairs=60)
    store = tmp_path / "runs.sqlite"
    args = ["run", "native", "--data", str(data), "-m", "ref:always-refuse", "--store", str(store),
            "--out", str(tmp_path / "out"), "--no-progress"]

    def small_disk() -> None:  # every file this process writes may hold at most 64 kB
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    res = ctxsafe(*args, preexec=small_disk)
    assert_one_clear_line(res, ExitCode.STORE, str(store), "full")
    again = ctxsafe(*args)
    assert again.returncode == 0, again.stderr


def test_a_read_only_store_can_be_reported_but_not_run(shared_dir: Path) -> None:
    store, run_id = make_store(shared_dir)
    for p in [shared_dir, *shared_dir.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o444)
    store.chmod(0o444)
    (shared_dir / "out").chmod(0o777)
    before = store.read_bytes()
    res = ctxsafe("run", "native", "--data", str(shared_dir / "data" / "cases.jsonl"), "-m", "ref:always-comply",
                  "--store", str(store), "--no-progress", user=True)
    assert res.returncode == ExitCode.STORE and "Traceback" not in res.stderr, res.stderr
    assert "read-only" in " ".join(res.stderr.split()) or "Permission denied" in res.stderr
    for name in ("runs", "report"):  # (`show` reads MTMCS runs only)
        rep = ctxsafe(*read_args(name, store, run_id, shared_dir / "out"), user=True)
        assert rep.returncode == 0, (name, rep.stderr)
    assert store.read_bytes() == before and not list(shared_dir.glob("runs.sqlite-*"))


def test_a_read_only_working_folder_is_one_line(shared_dir: Path) -> None:
    work = shared_dir / "work"
    native(work / "data")
    for p in [work, *work.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    res = ctxsafe("run", "native", "--data", "data/cases.jsonl", "-m", "ref:always-refuse", "--no-progress",
                  cwd=work, user=True)
    assert res.returncode == ExitCode.STORE and "Traceback" not in res.stderr, res.stderr
    assert ".ctxsafe" in res.stderr
