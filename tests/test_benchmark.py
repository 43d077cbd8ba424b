"""``pyssl bench`` runs and reports well-formed figures.

These tests check that every workload measures something and that the
table and the JSON have the documented shape, with and without a stdlib
``ssl`` to compare with. They never judge a speed: figures from a shared
machine belong in the benchmark's own output, not in pass/fail tests.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from openssl_cli import OPENSSL
from ssl_modules import needs_stdlib_ssl

import pyssl._cli.selfsigned as selfsigned
from pyssl._cli.bench.workloads import WORKLOADS, available


def run_python(args, cwd, env=None, timeout=300):
    # From a directory of its own: a checkout on the path would shadow the
    # installed package.
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def chains(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("bench-certs"))
    return selfsigned.write_self_signed(base, "ec"), selfsigned.write_self_signed(
        base, "rsa"
    )


@pytest.mark.parametrize("workload", WORKLOADS, ids=[w.name for w in WORKLOADS])
def test_each_workload_measures_something_with_pyssl(workload, chains, tmp_path):
    if not available(workload):
        pytest.skip(f"{workload.needs} is not installed")
    result = run_python(
        ["-m", "pyssl._cli.bench.child", "pyssl", workload.name, "0.05", *chains],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    value = json.loads(result.stdout)["value"]
    assert isinstance(value, float) and math.isfinite(value) and value > 0


def check_common_fields(report):
    for key in ("date", "cores", "machine", "python", "implementation", "openssl"):
        assert report[key], key
    assert report["runs"] == 2
    assert report["seconds"] == pytest.approx(0.05)
    [row] = report["results"]
    assert row["workload"] == "pending()"
    assert row["unit"] == "ns/call"
    assert row["higher_is_better"] is False
    assert row["target"] == pytest.approx(1.5)
    assert len(row["pyssl"]) == 2 and all(v > 0 for v in row["pyssl"])
    assert row["pyssl_median"] > 0
    return row


CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYSSL_COMMAND = os.path.join(os.path.dirname(sys.executable), "pyssl")


@needs_stdlib_ssl
@pytest.mark.skipif(
    not os.path.exists(PYSSL_COMMAND), reason="the pyssl command is not installed"
)
def test_bench_compares_with_the_stdlib(tmp_path):
    # As the README runs it: the pyssl command, from the checkout, whose
    # uncompiled source must not shadow the installed package in the
    # processes the benchmark starts.
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            PYSSL_COMMAND,
            "bench",
            "--runs",
            "2",
            "--seconds",
            "0.05",
            "--only",
            "pending",
            "--json",
            str(out),
        ],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "alternating stdlib and pyssl" in result.stdout
    assert "pending()" in result.stdout.splitlines()[-1]
    report = json.loads(out.read_text())
    assert report["with_stdlib"] is True
    row = check_common_fields(report)
    assert len(row["stdlib"]) == 2 and all(v > 0 for v in row["stdlib"])
    assert row["ratio"] == pytest.approx(row["pyssl_median"] / row["stdlib_median"])
    pairs = sorted(p / s for s, p in zip(row["stdlib"], row["pyssl"], strict=True))
    assert row["pair_ratio"] == pytest.approx((pairs[0] + pairs[1]) / 2)
    assert f"{row['pair_ratio']:.2f}" in result.stdout.splitlines()[-1].split()
    assert isinstance(row["meets_target"], bool)


@pytest.mark.parametrize("pyssl_inject", [None, "1"])
def test_bench_measures_pyssl_alone_without_a_stdlib_ssl(tmp_path, pyssl_inject):
    # Every interpreter the benchmark starts finds this ssl first, and
    # switches pyssl in at start-up, as pyssl-inject.pth does, if
    # PYSSL_INJECT says so: pyssl in place of ssl is no stdlib either.
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "ssl.py").write_text("raise ImportError('built without ssl')\n")
    (shadow / "sitecustomize.py").write_text(
        "import os\n"
        "if os.environ.get('PYSSL_INJECT', '') not in ('', '0'):\n"
        "    __import__('pyssl').inject_into_stdlib()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYSSL_INJECT"}
    env["PYTHONPATH"] = str(shadow)
    if pyssl_inject is not None:
        env["PYSSL_INJECT"] = pyssl_inject
    out = tmp_path / "bench.json"
    result = run_python(
        [
            "-m",
            "pyssl",
            "bench",
            "--runs",
            "2",
            "--seconds",
            "0.05",
            "--only",
            "pending",
            "--json",
            str(out),
        ],
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "no stdlib ssl module: measuring pyssl alone" in result.stdout
    report = json.loads(out.read_text())
    assert report["with_stdlib"] is False
    row = check_common_fields(report)
    assert "stdlib" not in row and "ratio" not in row and "pair_ratio" not in row


def test_bench_says_which_workloads_need_a_missing_program(tmp_path):
    if OPENSSL is None:
        pytest.skip("the openssl program is installed nowhere to hide")
    # A PATH without the openssl program: its workload is listed as skipped.
    env = {**os.environ, "PATH": os.path.dirname(sys.executable)}
    result = run_python(
        [
            "-m",
            "pyssl",
            "bench",
            "--runs",
            "1",
            "--seconds",
            "0.05",
            "--only",
            "version",
        ],
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "skipped (needs a program that is not installed): 64-byte round trips"
        in result.stdout
    )


def test_bench_with_nothing_to_measure_says_so(tmp_path):
    result = run_python(
        ["-m", "pyssl", "bench", "--runs", "1", "--only", "no such workload"],
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "no workload to measure" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_ca_bundle_rows_use_the_file_a_default_context_loads(tmp_path):
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(b"")
    env = {**os.environ, "SSL_CERT_FILE": str(bundle)}
    result = run_python(
        [
            "-c",
            "from pyssl._cli.bench.ca_bundle import system_ca_bundle; "
            "print(system_ca_bundle())",
        ],
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(bundle)
