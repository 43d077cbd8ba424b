"""``python -m pyssl conformance``: CPython's own test_ssl, run on pyssl.

The running interpreter's unmodified ``test.test_ssl`` is run in a child
process in which the C ``_ssl`` module is blocked (``sys.modules['_ssl'] =
None``) and pyssl is injected as ``ssl``/``_ssl`` before the test module is
imported. The tests pyssl fails on purpose are listed, with the reason, in
``conformance_deviations.txt``; any other failure fails the run.

``--stdlib`` runs the same tests on the stdlib's own ``ssl`` instead, for
the baseline to compare with.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

DEVIATIONS_FILE = Path(__file__).with_name("conformance_deviations.txt")
# At most this many deliberate deviations per Python version.
MAX_DEVIATIONS = 5
# regrtest's resources, but for the network: no test may leave loopback.
RESOURCES = [
    "audio",
    "curses",
    "largefile",
    "decimal",
    "cpu",
    "subprocess",
    "gui",
    "walltime",
]
CHILD_TIMEOUT = 1800


@dataclass
class Outcome:
    run: int = 0
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)


def load_deviations(version: tuple[int, int] = sys.version_info[:2]) -> dict[str, str]:
    """The test ids pyssl deliberately fails on this Python, with reasons."""
    wanted = f"{version[0]}.{version[1]}"
    deviations = {}
    for line in DEVIATIONS_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        test_id, versions, reason = (part.strip() for part in line.split("|", 2))
        if versions == "all" or wanted in versions.split(","):
            deviations[test_id] = reason
    return deviations


# ---- the child: runs the tests --------------------------------------------------


def _run_child(use_pyssl: bool, output: str) -> None:
    if use_pyssl:
        # Before anything imports ssl: the C module must not be used.
        sys.modules["_ssl"] = None  # type: ignore[assignment]
        import pyssl

        pyssl.inject_into_stdlib()
    import faulthandler
    import unittest

    from test import support

    support.use_resources = RESOURCES
    faulthandler.dump_traceback_later(CHILD_TIMEOUT - 60, exit=True)

    import test.test_ssl as test_ssl

    outcome: dict[str, str] = {}
    details: dict[str, str] = {}

    class Recorder(unittest.TestResult):
        if TYPE_CHECKING:
            # TestResult's, which its type stubs leave out.
            def _exc_info_to_string(
                self, err: object, test: unittest.TestCase
            ) -> str: ...

        def _mark(self, test: unittest.TestCase, kind: str, err: object = None) -> None:
            test_id = test.id().split(" ", 1)[0]
            # A test fails if any of its subtests does; errors win over failures.
            order = ["passed", "skipped", "failed", "error"]
            if order.index(kind) >= order.index(outcome.get(test_id, "passed")):
                outcome[test_id] = kind
            if err is not None and test_id not in details:
                details[test_id] = self._exc_info_to_string(err, test)

        def startTest(self, test: unittest.TestCase) -> None:
            super().startTest(test)
            outcome.setdefault(test.id(), "passed")

        def addError(self, test, err):  # type: ignore[no-untyped-def]
            super().addError(test, err)
            self._mark(test, "error", err)

        def addFailure(self, test, err):  # type: ignore[no-untyped-def]
            super().addFailure(test, err)
            self._mark(test, "failed", err)

        def addSkip(self, test, reason):  # type: ignore[no-untyped-def]
            super().addSkip(test, reason)
            self._mark(test, "skipped")

        def addSubTest(self, test, subtest, err):  # type: ignore[no-untyped-def]
            super().addSubTest(test, subtest, err)
            if err is not None:
                kind = (
                    "failed" if issubclass(err[0], test.failureException) else "error"
                )
                self._mark(test, kind, err)

        def addExpectedFailure(self, test, err):  # type: ignore[no-untyped-def]
            super().addExpectedFailure(test, err)

        def addUnexpectedSuccess(self, test):  # type: ignore[no-untyped-def]
            super().addUnexpectedSuccess(test)
            self._mark(test, "failed")

    suite = unittest.defaultTestLoader.loadTestsFromModule(test_ssl)
    result = Recorder()
    suite.run(result)
    with open(output, "w", encoding="utf-8") as f:
        json.dump({"run": result.testsRun, "outcome": outcome, "details": details}, f)


# ---- the parent: reports ------------------------------------------------------


def run_conformance(use_pyssl: bool = True) -> Outcome:
    """Run test_ssl in a child process; return the outcome per test."""
    with tempfile.TemporaryDirectory() as tmp:
        output = os.path.join(tmp, "outcome.json")
        cmd = [sys.executable, "-m", "pyssl._cli.conformance", "--child", output]
        if not use_pyssl:
            cmd.append("--stdlib")
        # The test suite writes its own chatter; keep it out of the report.
        subprocess.run(
            cmd,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=CHILD_TIMEOUT,
            check=False,
        )
        if not os.path.exists(output):
            raise RuntimeError(
                "the test_ssl run ended without a result (it crashed or hung)"
            )
        with open(output, encoding="utf-8") as f:
            data = json.load(f)
    # Every test case with an outcome; unittest's testsRun leaves out the
    # tests of classes skipped as a whole.
    result = Outcome(run=len(data["outcome"]), details=data["details"])
    for test_id, kind in sorted(data["outcome"].items()):
        {
            "passed": result.passed,
            "failed": result.failed,
            "error": result.errors,
            "skipped": result.skipped,
        }[kind].append(test_id)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pyssl conformance",
        description="Run this interpreter's test.test_ssl against pyssl.",
    )
    parser.add_argument(
        "--stdlib", action="store_true", help="run it on the stdlib ssl instead"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the outcome as JSON")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show the failures' tracebacks"
    )
    parser.add_argument("--child", metavar="OUTPUT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _run_child(not args.stdlib, args.child)
        return 0

    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    subject = "stdlib ssl" if args.stdlib else "pyssl"
    print(f"test_ssl of CPython {sys.version.split()[0]} on {subject} ...", flush=True)
    started = time.monotonic()
    result = run_conformance(use_pyssl=not args.stdlib)
    elapsed = time.monotonic() - started
    deviations = {} if args.stdlib else load_deviations()
    bad = [t for t in result.failed + result.errors if t not in deviations]
    deviated = [t for t in result.failed + result.errors if t in deviations]
    print(
        f"passed {len(result.passed)}/{result.run}  failed {len(result.failed)}  "
        f"errors {len(result.errors)}  skipped {len(result.skipped)}  ({elapsed:.0f} s)"
    )
    for test_id in deviated:
        print(f"  deviation: {test_id}: {deviations[test_id]}")
    for test_id in bad:
        print(f"  FAILED: {test_id}")
        if args.verbose:
            print("    " + result.details.get(test_id, "").replace("\n", "\n    "))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "python": version,
                    "subject": subject,
                    "run": result.run,
                    "passed": result.passed,
                    "failed": result.failed,
                    "errors": result.errors,
                    "skipped": result.skipped,
                    "deviations": deviated,
                },
                f,
                indent=2,
            )
    if len(deviations) > MAX_DEVIATIONS:
        print(
            f"too many deviations listed for Python {version}: {len(deviations)} > {MAX_DEVIATIONS}"
        )
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
