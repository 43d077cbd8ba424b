"""Installing from source: where OpenSSL cannot be found, or is too old, the
build stops with a message that says what to do, not a compiler error."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(
    not (SOURCE / "setup.py").is_file(), reason="runs from a source checkout only"
)


def pip_install_source(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # A copy, so that the build leaves nothing in the checkout.
    tree = tmp_path / "src"
    shutil.copytree(
        SOURCE,
        tree,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv*",
            "build",
            "dist",
            "*.egg-info",
            "__pycache__",
            "*.so",
            "*.pyd",
        ),
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-cache-dir",
            "--no-deps",
            "--target",
            str(tmp_path / "target"),
            str(tree),
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


# The header probe runs the C preprocessor the Unix way (cc -E).
needs_unix_compiler = pytest.mark.skipif(
    sys.platform == "win32", reason="the OpenSSL header probe is not run with MSVC"
)


@needs_unix_compiler
def test_missing_openssl_headers_stop_the_install_with_what_to_install(tmp_path):
    # -nostdinc hides every system header, as on a machine without libssl-dev.
    result = pip_install_source(tmp_path, CC="cc -nostdinc")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "pyssl needs the OpenSSL 3.0 (or newer) development headers" in output
    assert "apt-get install libssl-dev" in output
    assert "PYSSL_OPENSSL_DIR" in output
    assert "Traceback" not in output


def test_openssl_dir_without_openssl_stops_the_install_instead_of_using_the_system_one(
    tmp_path,
):
    # The system's headers are there (the other tests build with them), but
    # the variable asked for another OpenSSL: the build must not fall back.
    missing = tmp_path / "no-openssl-here"
    result = pip_install_source(tmp_path, PYSSL_OPENSSL_DIR=str(missing))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "pyssl needs the OpenSSL 3.0 (or newer) development headers" in output
    assert (
        f"PYSSL_OPENSSL_DIR is {str(missing)!r}, which holds no include/openssl/ssl.h"
        in output
    )
    assert "Traceback" not in output


@needs_unix_compiler
def test_openssl_dir_variable_is_where_the_headers_come_from(tmp_path):
    # A prefix whose headers claim OpenSSL 1.1.1: the build must read these
    # (not the system's 3.x) and refuse them.
    include = tmp_path / "old-openssl" / "include" / "openssl"
    include.mkdir(parents=True)
    (include / "opensslv.h").write_text("#define OPENSSL_VERSION_NUMBER 0x1010117fL\n")
    (include / "ssl.h").write_text("/* not a real OpenSSL */\n")
    result = pip_install_source(
        tmp_path, PYSSL_OPENSSL_DIR=str(tmp_path / "old-openssl")
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "pyssl needs OpenSSL 3.0 or newer" in output
    assert "Traceback" not in output
