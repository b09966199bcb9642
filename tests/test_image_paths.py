"""`resolve_inside` resolves each folder once (loading speed) and must still agree with `Path.resolve()`:
the same target for every kind of path, and every escape refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctxsafe.errors import DataError
from ctxsafe.images import resolve_inside


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "img" / "sub").mkdir(parents=True)
    (root / "img" / "a.png").write_bytes(b"x")
    (root / "img" / "sub" / "b.png").write_bytes(b"x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"x")
    (root / "img" / "inner-link.png").symlink_to(root / "img" / "sub" / "b.png")
    (root / "img" / "out-link.png").symlink_to(outside / "secret.png")
    (root / "linked-dir").symlink_to(root / "img" / "sub")
    (root / "out-dir").symlink_to(outside)
    return root


@pytest.mark.parametrize("rel", ["img/a.png", "img/sub/b.png", "img/./a.png", "img//a.png", "img/sub/../a.png",
                                 "img/inner-link.png", "linked-dir/b.png", "img/missing.png", "missing/x.png",
                                 "img/sub/", "img/sub/.", "img/sub/..", "img/a.png/x.png"])
def test_same_target_as_resolve(tree: Path, rel: str) -> None:
    assert resolve_inside(tree, rel, file="f", record="r") == (tree / rel).resolve()


@pytest.mark.parametrize("rel", ["..", "../outside/secret.png", "img/../../outside/secret.png", "img/out-link.png",
                                 "out-dir/secret.png", "img/sub/../../.."])
def test_escapes_are_refused(tree: Path, rel: str) -> None:
    with pytest.raises(DataError, match="leaves the data folder"):
        resolve_inside(tree, rel, file="f", record="r")


def test_a_symlink_loop_is_a_data_error(tree: Path) -> None:
    (tree / "loop.png").symlink_to(tree / "loop.png")
    with pytest.raises(DataError, match="cannot be resolved"):
        resolve_inside(tree, "loop.png", file="f", record="r")
