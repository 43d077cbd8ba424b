"""Runs the workloads on the stdlib ``ssl`` and on pyssl, alternating them,
each measurement in a fresh process, and prints medians and ratios."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from pyssl._cli.bench.workloads import SYSTEM_CA_BUNDLE, WORKLOADS, Workload, available

CHILD_TIMEOUT = 300

# What pyssl should reach, as pyssl/stdlib in the same run: rates at least
# this much, latencies and memory at most this much.
TARGETS = {
    "SSLObject/MemoryBIO 16 KiB": 0.90,
    "memory per 1,000 connections": 1.20,
    # CA certificates are read once per process and shared by the contexts
    # that load them, where the stdlib reads them again for every context:
    # warm loads must leave the stdlib far behind.
    "CA bundle: create_default_context() warm": 0.01,
    "CA bundle: load_verify_locations(cafile) warm": 0.01,
    "CA bundle: create_default_context() first in process": 0.20,
    "CA bundle: urlopen() of a local HTTPS server": 5.0,
}
RATE_TARGET = 0.97
LATENCY_TARGET = 1.50


def target_for(workload: Workload) -> float:
    if workload.name in TARGETS:
        return TARGETS[workload.name]
    return RATE_TARGET if workload.higher_is_better else LATENCY_TARGET


def meets(workload: Workload, ratio: float) -> bool:
    target = target_for(workload)
    return ratio >= target if workload.higher_is_better else ratio <= target


def _child_environment() -> dict[str, str]:
    # Without PYSSL_INJECT: "stdlib" must be the stdlib's ssl, not pyssl
    # switched in at start-up by pyssl-inject.pth (the pyssl child injects
    # pyssl itself).
    return {name: value for name, value in os.environ.items() if name != "PYSSL_INJECT"}


def stdlib_ssl_available() -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", "import ssl"],
        capture_output=True,
        cwd=tempfile.gettempdir(),
        env=_child_environment(),
    )
    return probe.returncode == 0


def measure(
    module: str, workload: Workload, seconds: float, chains: tuple[str, str]
) -> float:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyssl._cli.bench.child",
            module,
            workload.name,
            str(seconds),
            *chains,
        ],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        env=_child_environment(),
        # Not the caller's directory: `-m` puts it first on sys.path, and a
        # pyssl checkout there would shadow the installed package.
        cwd=os.path.dirname(chains[0]),
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{workload.name} on {module} failed:\n{result.stderr.strip()[-2000:]}"
        )
    return float(json.loads(result.stdout.strip().splitlines()[-1])["value"])


class Progress:
    """One updating line on a terminal, a line per step otherwise."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()

    def step(self, text: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        line = f"[{self.done}/{self.total} {elapsed:4.0f}s] {text}"
        if self.tty:
            sys.stderr.write("\r\x1b[K" + line[:120])
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.tty:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(value: float) -> str:
    # Rows far faster than the stdlib need more than two decimals.
    return f"{value:.2f}" if value >= 0.1 else f"{value:.4f}"


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    return (
        f"{_fmt(statistics.median(values))} ({_fmt(min(values))}–{_fmt(max(values))})"
    )


def machine_description() -> dict[str, Any]:
    import pyssl

    return {
        "date": datetime.date.today().isoformat(),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "openssl": pyssl.OPENSSL_VERSION,
    }


def run(
    workloads: list[Workload], runs: int, seconds: float, with_stdlib: bool
) -> list[dict[str, Any]]:
    import pyssl._cli.selfsigned as selfsigned

    modules = ["stdlib", "pyssl"] if with_stdlib else ["pyssl"]
    order_draw = random.Random()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        chains = (
            selfsigned.write_self_signed(tmp, "ec"),
            selfsigned.write_self_signed(tmp, "rsa"),
        )
        progress = Progress(len(workloads) * runs * len(modules))
        for workload in workloads:
            values: dict[str, list[float]] = {m: [] for m in modules}
            for i in range(runs):
                # Which module of each pair goes first is drawn at random:
                # on a shared machine the other tenants' load comes and goes
                # over seconds, and a fixed pattern (stdlib, pyssl, pyssl,
                # stdlib, ...) can fall in step with it and hand one module
                # the slow phases run after run.
                order = modules if order_draw.random() < 0.5 else modules[::-1]
                for module in order:
                    progress.step(f"{workload.name}: {module} run {i + 1}/{runs}")
                    values[module].append(measure(module, workload, seconds, chains))
            row: dict[str, Any] = {
                "workload": workload.name,
                "unit": workload.unit,
                "higher_is_better": workload.higher_is_better,
                "target": target_for(workload),
            }
            for module in modules:
                row[module] = values[module]
                row[f"{module}_median"] = statistics.median(values[module])
            if with_stdlib:
                row["ratio"] = row["pyssl_median"] / row["stdlib_median"]
                row["meets_target"] = meets(workload, row["ratio"])
                # The two runs of a pair are seconds apart, so their ratio
                # mostly cancels the machine's slow and fast phases, which
                # the medians of each module's runs do not: shown beside the
                # ratio the target is judged on.
                row["pair_ratio"] = statistics.median(
                    p / s
                    for s, p in zip(values["stdlib"], values["pyssl"], strict=True)
                )
            rows.append(row)
        progress.finish()
    return rows


def print_table(rows: list[dict[str, Any]], with_stdlib: bool) -> None:
    name_width = max(len(r["workload"]) for r in rows)
    if with_stdlib:
        print(
            f"{'workload':<{name_width}}  {'unit':<7}  {'stdlib median (min–max)':<28}"
            f"{'pyssl median (min–max)':<28}{'ratio':>6}{'pairs':>7}  target"
        )
    else:
        print(f"{'workload':<{name_width}}  {'unit':<7}  pyssl median (min–max)")
    for r in rows:
        line = f"{r['workload']:<{name_width}}  {r['unit']:<7}  "
        if with_stdlib:
            mark = "" if r["meets_target"] else "  MISSED"
            sign = "≥" if r["higher_is_better"] else "≤"
            line += (
                f"{_cell(r['stdlib']):<28}{_cell(r['pyssl']):<28}{_ratio(r['ratio']):>6}"
                f"{_ratio(r['pair_ratio']):>7}  {sign}{r['target']:.2f}{mark}"
            )
        else:
            line += _cell(r["pyssl"])
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pyssl bench",
        description="Measure the stdlib ssl and pyssl side by side in one run.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="3 short runs each (about a minute)"
    )
    parser.add_argument(
        "--runs", type=int, help="runs per module and workload (default 15)"
    )
    parser.add_argument(
        "--seconds", type=float, help="measuring time per run (default 1)"
    )
    parser.add_argument(
        "--only", metavar="TEXT", help="only the workloads whose name contains TEXT"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    # On a shared machine two runs a few seconds apart can differ markedly
    # either way: many short runs give a steadier median than a few long
    # ones in the same time (docs/performance.md).
    runs = args.runs or (3 if args.quick else 15)
    seconds = args.seconds or (0.3 if args.quick else 1.0)
    workloads = [w for w in WORKLOADS if available(w)]
    skipped = [w for w in WORKLOADS if not available(w)]
    if args.only:
        workloads = [w for w in workloads if args.only.lower() in w.name.lower()]
    with_stdlib = stdlib_ssl_available()
    info = machine_description()
    print(
        f"pyssl benchmark, {info['date']}: {info['cores']} cores ({info['machine']}), "
        f"{info['implementation']} {info['python']}, {info['openssl']}"
    )
    if not with_stdlib:
        print("this interpreter has no stdlib ssl module: measuring pyssl alone")
    print(
        f"{runs} runs per module and workload, {seconds:g} s each, each in a fresh process"
        + (
            ", alternating stdlib and pyssl (each pair in random order)"
            if with_stdlib
            else ""
        )
    )
    if with_stdlib:
        print(
            "ratio: pyssl's median / the stdlib's (the target applies to it); "
            "pairs: the median of each pair's pyssl/stdlib"
        )
    for workload in skipped:
        lacking = (
            "a program that is not installed"
            if workload.needs != SYSTEM_CA_BUNDLE
            else SYSTEM_CA_BUNDLE
        )
        print(f"skipped (needs {lacking}): {workload.name}")
    if not workloads:
        print("no workload to measure", file=sys.stderr)
        return 1
    rows = run(workloads, runs, seconds, with_stdlib)
    print()
    print_table(rows, with_stdlib)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {
                    **info,
                    "runs": runs,
                    "seconds": seconds,
                    "with_stdlib": with_stdlib,
                    "results": rows,
                },
                f,
                indent=2,
            )
    return 0
