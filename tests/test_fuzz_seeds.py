"""The fuzz targets' seed corpus, replayed without atheris: every seed
meets its target's checks (only pyssl's documented exceptions, the same
outcome as the stdlib, no injected byte read as application data, the
peer's real certificate), so the targets and the corpus stay in working
order between fuzzing runs."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
TARGETS = sorted(
    p.stem for p in (FUZZ / "targets").glob("*.py") if not p.name.startswith("_")
)

pytestmark = pytest.mark.skipif(
    not FUZZ.is_dir(), reason="the fuzz folder is not in this tree"
)


@pytest.fixture(scope="module")
def targets():
    sys.path.insert(0, str(FUZZ / "targets"))
    try:
        yield lambda name: importlib.import_module(name)
    finally:
        sys.path.remove(str(FUZZ / "targets"))


@pytest.mark.parametrize("name", TARGETS)
def test_every_seed_passes_its_target(targets, name, unraisable):
    target = targets(name)
    seeds = sorted((FUZZ / "corpus" / name).iterdir())
    assert seeds, f"no seeds for {name}"
    for seed in seeds:
        target.TestOneInput(seed.read_bytes())
    # Only the record targets' SNI callback may report (a name that is not
    # ASCII, refused as the stdlib refuses it).
    assert [
        type(u.exc_value)
        for u in unraisable
        if not isinstance(u.exc_value, UnicodeDecodeError)
    ] == []
