"""``python -m pyssl info``: the "additions:" line names what pyssl adds to
the stdlib's API (docs/additions.md) and whether the linked OpenSSL
supports each, read from pyssl's HAS_* flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pyssl
from pyssl._cli import info

NAMES = [
    "verify_callback",
    "certs_from_memory",
    "ocsp_stapling",
    "keying_material_exporter",
    "early_data",
    "key_update",
    "finished_messages",
    "npn",
]


def additions_line(capsys) -> dict[str, str]:
    assert info.main([]) == 0
    [line] = [
        line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("additions: ")
    ]
    return dict(item.split("=") for item in line.removeprefix("additions: ").split(" "))


def test_every_addition_is_listed_in_order(capsys):
    listed = additions_line(capsys)
    assert list(listed) == NAMES
    assert set(listed.values()) <= {"yes", "no"}


def test_the_connection_additions_follow_their_flags(capsys):
    listed = additions_line(capsys)
    assert listed["keying_material_exporter"] == "yes"
    assert listed["finished_messages"] == "yes"
    assert listed["early_data"] == ("yes" if pyssl.HAS_TLSv1_3 else "no")
    assert listed["key_update"] == ("yes" if pyssl.HAS_TLSv1_3 else "no")
    assert listed["npn"] == ("yes" if pyssl.HAS_NPN else "no")


@pytest.mark.parametrize(
    "flag, name",
    [
        ("HAS_EARLY_DATA", "early_data"),
        ("HAS_KEY_UPDATE", "key_update"),
        ("HAS_NPN", "npn"),
        ("HAS_VERIFY_CALLBACK", "verify_callback"),
        ("HAS_OCSP_STAPLING", "ocsp_stapling"),
        ("HAS_CERTS_FROM_MEMORY", "certs_from_memory"),
    ],
)
@pytest.mark.parametrize("value, shown", [(False, "no"), (True, "yes")])
def test_a_flag_decides_its_entry(capsys, monkeypatch, flag, name, value, shown):
    monkeypatch.setattr(pyssl, flag, value, raising=False)
    assert additions_line(capsys)[name] == shown


def test_a_missing_flag_reads_as_no(capsys, monkeypatch):
    monkeypatch.delattr(pyssl, "HAS_KEY_UPDATE")
    assert additions_line(capsys)["key_update"] == "no"


def test_python_dash_m_pyssl_prints_it():
    checkout = Path(pyssl.__file__).parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "pyssl", "info"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=checkout,
    )
    assert done.returncode == 0, done.stderr
    [line] = [
        line for line in done.stdout.splitlines() if line.startswith("additions: ")
    ]
    assert [item.split("=")[0] for item in line.split(" ")[1:]] == NAMES
