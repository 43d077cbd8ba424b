"""docs/additions.md: the examples run as they are and print what the page
says they print (all but OCSP stapling's, which needs a CA's responder
files made with the openssl program first, as the page shows). Each runs in a fresh
interpreter, in a directory prepared by the page's own setup example."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pyssl

PAGE = Path(__file__).resolve().parent.parent / "docs" / "additions.md"
CHECKOUT = Path(pyssl.__file__).resolve().parent.parent

# Section title: how lines the example prints end.
EXPECTED = {
    "Verify callback": ["b'hello' TLSv1.3"],
    "Certificates and keys from memory": ["X509 KEY_VALUES_MISMATCH"],
    "Keying material exporters": ["True"],
    "TLS 1.3 early data (0-RTT)": [
        "server: after the handshake b'GET / HTTP/1.1'",
        "server: early data b'GET / HTTP/1.1'",
    ],
    "Key update and Finished messages": ["b'DATA UNDER NEW KEYS 2'", "True"],
    "NPN that works": ["True http/1.1"],
}


def examples() -> dict[str, str]:
    """The first Python example under each "## " title ("" for the intro)."""
    found: dict[str, str] = {}
    for part in re.split(r"^## ", PAGE.read_text(), flags=re.M):
        title = "" if part.startswith("# ") else part.splitlines()[0]
        code = re.search(r"```python\n(.*?)```", part, re.S)
        if code:
            found.setdefault(title, code.group(1))
    return found


def run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(CHECKOUT))
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("additions-examples")
    done = run(examples()[""], directory)
    assert done.returncode == 0, done.stderr
    return directory


def test_the_page_has_its_title_and_sections():
    assert PAGE.read_text().startswith("# What pyssl adds to ssl\n")
    assert set(EXPECTED) <= set(examples())


@pytest.mark.parametrize("title", EXPECTED)
def test_example_runs_and_prints_what_the_page_says(workdir, title):
    if title == "NPN that works" and not pyssl.HAS_NPN:
        pytest.skip("this OpenSSL is built without NPN")
    done = run(examples()[title], workdir)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for expected in EXPECTED[title]:
        assert any(line.endswith(expected) for line in lines), done.stdout


def test_the_readme_links_to_the_page():
    readme = (PAGE.parent.parent / "README.md").read_text()
    assert "(docs/additions.md)" in readme
