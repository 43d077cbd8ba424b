"""Run pyssl's fuzz targets, each in its own process for a set time.

    python fuzz/run.py --seconds 60                 # every target, 60 s each
    python fuzz/run.py --seconds 300 --target record_server
    python fuzz/run.py --reproduce crash-1234 --target certificates

Each target (``fuzz/targets/<name>.py``) starts from its seed corpus in
``fuzz/corpus/<name>/``; what the fuzzer adds goes to a scratch directory,
so the repository's corpus stays as committed (``--keep DIR`` keeps it).
A crash, a hang (an input running longer than ``--timeout``), an
exception a target does not expect, or a process that does not end on
time is a finding: the input is saved in ``--artifacts`` and the run
exits with status 1. The table printed at the end gives per target the
executions, their rate, the corpus units found and the findings.

The pyssl fuzzed is the one the interpreter imports (set PYTHONPATH to a
checkout with the binding built in place to fuzz that checkout).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = HERE / "targets"
CORPUS = HERE / "corpus"
# Startup (instrumenting pyssl, making keys) and the final statistics, on
# top of the fuzzing time, before a target counts as hung.
GRACE = 120


def all_targets() -> list[str]:
    return sorted(p.stem for p in TARGETS.glob("*.py") if not p.name.startswith("_"))


def stat(output: str, name: str) -> int:
    found = re.findall(rf"stat::{name}:\s+(\d+)", output)
    return int(found[-1]) if found else 0


def run_target(name: str, args: argparse.Namespace, artifacts: Path) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix=f"pyssl-fuzz-{name}-"))
    found_dir = Path(args.keep) / name if args.keep else scratch / "found"
    found_dir.mkdir(parents=True, exist_ok=True)
    seeds = CORPUS / name
    command = [
        sys.executable, str(TARGETS / f"{name}.py"), str(found_dir),
        *([str(seeds)] if seeds.is_dir() else []),
        f"-max_total_time={args.seconds}", f"-timeout={args.timeout}",
        f"-rss_limit_mb={args.rss_limit_mb}", "-max_len=4096", "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/{name}-",
    ]  # fmt: skip
    log = scratch / "log.txt"
    started = time.monotonic()
    with open(log, "w+") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            status: int | str = proc.wait(args.seconds + GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            status = "did not end on time"
        out.seek(0)
        output = out.read()
    elapsed = time.monotonic() - started
    findings = re.findall(r"Test unit written to (\S+)", output)
    failed = status != 0 or bool(findings)
    if failed:
        kept = artifacts / f"{name}-log.txt"
        shutil.copy(log, kept)
        print(f"--- {name}: finding (status {status}); log kept in {kept}")
        # The report atheris printed: the exception and its traceback.
        lines = output.splitlines()
        start = next((i for i, line in enumerate(lines) if "Uncaught Python exception" in line
                      or "ERROR: libFuzzer" in line), max(len(lines) - 40, 0))  # fmt: skip
        print("\n".join(lines[start : start + 40]))
    shutil.rmtree(scratch, ignore_errors=True)
    return {
        "target": name,
        "seconds": elapsed,
        "executions": stat(output, "number_of_executed_units"),
        "added": stat(output, "new_units_added"),
        "peak_rss_mb": stat(output, "peak_rss_mb"),
        "findings": findings or ([f"status {status}"] if failed else []),
    }


def reproduce(args: argparse.Namespace) -> int:
    """Run one saved input through its target, printing what it raises."""
    if not args.target or len(args.target) != 1:
        sys.exit("--reproduce needs exactly one --target")
    command = [sys.executable, str(TARGETS / f"{args.target[0]}.py"), args.reproduce]
    return subprocess.call(command)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=int, default=60, help="fuzzing time per target"
    )
    parser.add_argument(
        "--target",
        action="append",
        choices=all_targets(),
        help="a target to run (repeatable; default: all)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=10,
        help="seconds one input may take before it counts as a hang",
    )
    parser.add_argument("--rss-limit-mb", type=int, default=2048)
    parser.add_argument(
        "--artifacts",
        default="fuzz-artifacts",
        help="where inputs that found something are saved",
    )
    parser.add_argument(
        "--keep", help="keep the corpus units found, under DIR/<target>"
    )
    parser.add_argument("--reproduce", metavar="FILE", help="run one input and exit")
    args = parser.parse_args()
    if args.reproduce:
        return reproduce(args)
    try:
        import atheris  # noqa: F401
    except ImportError:
        sys.exit(f"atheris is not installed for {sys.executable}")
    artifacts = Path(args.artifacts).resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.target or all_targets():
        print(f"== {name}: {args.seconds} s", flush=True)
        results.append(run_target(name, args, artifacts))
    print()
    print(f"{'target':<16} {'seconds':>8} {'executions':>11} {'exec/s':>8} {'new units':>10} "
          f"{'peak RSS MB':>12}  findings")  # fmt: skip
    for r in results:
        rate = r["executions"] / r["seconds"] if r["seconds"] else 0
        print(f"{r['target']:<16} {r['seconds']:>8.0f} {r['executions']:>11,} {rate:>8,.0f} "
              f"{r['added']:>10} {r['peak_rss_mb']:>12}  {len(r['findings'])}")  # fmt: skip
    failed = [r for r in results if r["findings"]]
    for r in failed:
        for finding in r["findings"]:
            print(f"finding in {r['target']}: {finding}")
    if not failed and not any(artifacts.iterdir()):
        artifacts.rmdir()
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
