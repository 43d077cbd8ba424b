"""What ``import pyssl`` says when it cannot load: the missing piece by name."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pyssl

PACKAGE = os.path.dirname(os.path.abspath(pyssl.__file__))


def import_pyssl(
    path: str, tmp_path, before: str = ""
) -> subprocess.CompletedProcess[str]:
    # Without PYSSL_INJECT, whose start-up hook would import pyssl first.
    env = {k: v for k, v in os.environ.items() if k != "PYSSL_INJECT"}
    return subprocess.run(
        [sys.executable, "-c", f"{before}import pyssl"],
        env={**env, "PYTHONPATH": path},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


WITHOUT_EDITABLE_FINDERS = (
    "import sys; "
    "sys.meta_path[:] = [f for f in sys.meta_path "
    "if not getattr(f, '__module__', '').startswith('__editable__')]; "
)


def test_a_missing_cffi_backend_is_named_not_taken_for_a_missing_binding(tmp_path):
    result = import_pyssl(
        os.path.dirname(PACKAGE),
        tmp_path,
        before="import sys; sys.modules['_cffi_backend'] = None; ",
    )
    assert result.returncode != 0
    assert "ModuleNotFoundError: import of _cffi_backend halted" in result.stderr
    assert "compiled binding" not in result.stderr


def test_a_source_tree_without_the_binding_says_how_to_build_it(tmp_path):
    # The package without its compiled module, as in a fresh checkout.
    shutil.copytree(
        PACKAGE,
        tmp_path / "tree" / "pyssl",
        ignore=shutil.ignore_patterns("_openssl.*", "__pycache__"),
    )
    # An editable install (pip install -e) adds a finder that maps pyssl's
    # submodules to the checkout it was made from, which would supply the
    # binding this tree lacks: it goes.
    tree = str(tmp_path / "tree")
    result = import_pyssl(tree, tmp_path, before=WITHOUT_EDITABLE_FINDERS)
    assert result.returncode != 0
    assert (
        "ImportError: pyssl's compiled binding (pyssl._openssl) is missing"
        in result.stderr
    )
    assert "python _native/build.py" in result.stderr
