"""Handshake soak: many TLS connections opened and closed in one process,
while resident memory, the Python heap (tracemalloc) and the open file
descriptors are watched.

    python soak/handshakes.py             # 20,000 handshakes per phase
    python soak/handshakes.py --quick     # 2,000 per phase (CI)
    python soak/handshakes.py --module stdlib   # the same with the stdlib ssl

Phases, each on loopback TCP, client and server in one process:

plain
    handshake, one byte each way, close.
callbacks
    every connection gets a new server context whose encrypted key is
    loaded with a password callback (every 5th callback raises first,
    then the right one is given), an SNI callback (raising on every 7th
    connection, which fails that handshake) and ALPN on both sides.

For each phase the figures after the first connection, after the
warm-up (a tenth of the phase) and at the end, and the growth from
warm-up to end. The full run fails if resident memory or the traced heap
grows by 5% or more after warm-up; every run fails if descriptors grow
or a connection ends otherwise than expected.
"""

from __future__ import annotations

import argparse
import collections
import os
import queue
import socket
import sys
import threading
import time
import tracemalloc
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import PASSWORD, make_files, open_fds, rss_kib, scratch_directory, settle  # noqa: E402

TIMEOUT = 20.0
LIMIT_PERCENT = 5.0


class PasswordRefused(Exception):
    """What the password callback raises on purpose."""


class SNIRefused(Exception):
    """What the SNI callback raises on purpose."""


def sample() -> tuple[int, int, int]:
    """(RSS KiB, traced heap KiB, open descriptors), after collecting."""
    settle()
    return rss_kib(), tracemalloc.get_traced_memory()[0] // 1024, open_fds()


class Server:
    """Serves one connection at a time with the context the client side
    queued for it; records how each ended."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=8)
        self.listener.settimeout(TIMEOUT)
        self.address = self.listener.getsockname()
        self.contexts: queue.Queue[Any] = queue.Queue()
        # Counted, not listed: the soak must not grow by itself.
        self.ends: collections.Counter[str] = collections.Counter()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            ctx = self.contexts.get()
            if ctx is None:
                return
            try:
                raw, _ = self.listener.accept()
            except OSError as exc:
                self.ends[f"accept: {exc!r}"] += 1
                return
            raw.settimeout(TIMEOUT)
            try:
                with ctx.wrap_socket(raw, server_side=True) as tls:
                    tls.sendall(tls.recv(1))
                    self.ends["ok"] += 1
            except Exception as exc:
                self.ends[type(exc).__name__] += 1
            finally:
                raw.close()

    def stop(self) -> None:
        self.contexts.put(None)
        self.thread.join(TIMEOUT)
        self.listener.close()


def plain_phase(ssl: Any, files: Any) -> tuple[Any, Any]:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.chain)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(files.ca)

    def server_context(i: int) -> Any:
        return server_ctx

    return server_context, client_ctx


def callbacks_phase(ssl: Any, files: Any) -> tuple[Any, Any]:
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(files.ca)
    client_ctx.set_alpn_protocols(["h2", "http/1.1"])

    def server_context(i: int) -> Any:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if i % 5 == 0:

            def refuse() -> str:
                raise PasswordRefused

            try:
                ctx.load_cert_chain(files.cert, files.encrypted_key, password=refuse)
            except PasswordRefused:
                pass
            else:
                raise AssertionError("the password callback's exception was lost")
        ctx.load_cert_chain(files.cert, files.encrypted_key, password=lambda: PASSWORD)
        ctx.set_alpn_protocols(["http/1.1", "h2"])

        def sni(tls: Any, name: str | None, context: Any) -> None:
            if i % 7 == 3:
                raise SNIRefused(name)

        ctx.sni_callback = sni
        return ctx

    return server_context, client_ctx


def run_phase(
    name: str, ssl: Any, files: Any, count: int, strict: bool
) -> dict[str, Any]:
    make_server_context, client_ctx = (
        plain_phase if name == "plain" else callbacks_phase
    )(ssl, files)
    server = Server()
    outcomes: dict[str, int] = {}
    # The reports are counted by type: keeping them would keep what their
    # tracebacks reference.
    unraisable: collections.Counter[str] = collections.Counter()

    def note_unraisable(report: Any) -> None:
        unraisable[type(report.exc_value).__name__] += 1

    hook, sys.unraisablehook = sys.unraisablehook, note_unraisable
    warmup = max(count // 10, 1)
    samples: dict[str, tuple[int, int, int]] = {}
    trace: list[tuple[int, tuple[int, int, int]]] = []
    started = time.monotonic()
    try:
        for i in range(count):
            server.contexts.put(make_server_context(i))
            try:
                with socket.create_connection(server.address, timeout=TIMEOUT) as raw:
                    with client_ctx.wrap_socket(
                        raw, server_hostname="localhost"
                    ) as tls:
                        tls.sendall(b"?")
                        if tls.recv(1) != b"?":
                            raise AssertionError("the echo differs")
                        if (
                            name == "callbacks"
                            and tls.selected_alpn_protocol() != "http/1.1"
                        ):
                            raise AssertionError(
                                f"ALPN {tls.selected_alpn_protocol()!r}"
                            )
                outcome = "ok"
            except ssl.SSLError as exc:
                outcome = f"SSLError {exc.reason}"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            done = i + 1
            if done == 1:
                samples["first"] = sample()
            if done == warmup:
                samples["warm-up"] = sample()
            if done % max(count // 10, 1) == 0:
                trace.append((done, sample()))
        samples["last"] = sample()
    finally:
        sys.unraisablehook = hook
        server.stop()
    elapsed = time.monotonic() - started
    server_ends = dict(server.ends)
    refused = sum(1 for i in range(count) if name == "callbacks" and i % 7 == 3)
    expected_client = {"ok": count - refused}
    if refused:
        expected_client["SSLError SSLV3_ALERT_HANDSHAKE_FAILURE"] = refused
    problems = []
    if outcomes != expected_client:
        problems.append(f"client outcomes {outcomes}, expected {expected_client}")
    if server_ends.get("ok", 0) != count - refused:
        problems.append(f"server ends {server_ends}")
    if dict(unraisable) != ({"SNIRefused": refused} if refused else {}):
        problems.append(
            f"unraisable reports {dict(unraisable)}, expected {refused} SNIRefused"
        )
    growth = {}
    for index, label in enumerate(("RSS", "traced", "fds")):
        base, last = samples["warm-up"][index], samples["last"][index]
        growth[label] = 100.0 * (last - base) / base if base else 0.0
    if samples["last"][2] > samples["warm-up"][2]:
        problems.append("open descriptors grew")
    if strict:
        for label in ("RSS", "traced"):
            if growth[label] >= LIMIT_PERCENT:
                problems.append(f"{label} grew {growth[label]:.1f}% after warm-up")
    return {
        "name": name,
        "count": count,
        "seconds": elapsed,
        "samples": samples,
        "trace": trace,
        "growth": growth,
        "outcomes": outcomes,
        "server ends": server_ends,
        "unraisable": dict(unraisable),
        "problems": problems,
    }


def report(result: dict[str, Any]) -> None:
    s, g = result["samples"], result["growth"]
    print(f"\n== {result['name']}: {result['count']:,} handshakes in {result['seconds']:.0f} s "
          f"({result['count'] / result['seconds']:,.0f}/s)")  # fmt: skip
    print(f"  {'':>10} {'first':>10} {'warm-up':>10} {'last':>10} {'growth':>8}")
    for index, (label, unit) in enumerate(
        (("RSS", "KiB"), ("traced", "KiB"), ("fds", ""))
    ):
        print(f"  {label + (' ' + unit if unit else ''):>10} {s['first'][index]:>10,} "
              f"{s['warm-up'][index]:>10,} {s['last'][index]:>10,} {g[label]:>7.1f}%")  # fmt: skip
    print("  trace (connections: RSS KiB / traced KiB / fds): " + ", ".join(
        f"{n:,}: {rss:,}/{traced:,}/{fds}" for n, (rss, traced, fds) in result["trace"]))  # fmt: skip
    print(f"  client outcomes: {result['outcomes']}")
    print(
        f"  server ends: {result['server ends']}; unraisable reports: {result['unraisable']}"
    )
    for problem in result["problems"]:
        print(f"  PROBLEM: {problem}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="2,000 handshakes per phase (CI)"
    )
    parser.add_argument("--count", type=int, help="handshakes per phase")
    parser.add_argument("--module", choices=["pyssl", "stdlib"], default="pyssl")
    args = parser.parse_args()
    if args.module == "stdlib":
        import ssl
    else:
        import pyssl as ssl
    count = args.count or (2000 if args.quick else 20000)
    strict = not args.quick
    print(
        f"{ssl.__name__} from {ssl.__file__}, {ssl.OPENSSL_VERSION}, python {sys.version.split()[0]}"
    )
    print(f"{count:,} handshakes per phase; growth limit {LIMIT_PERCENT}% after warm-up "
          f"({'checked' if strict else 'not checked in a quick run'})")  # fmt: skip
    tracemalloc.start()
    failed = False
    with scratch_directory() as tmp:
        files = make_files(tmp)
        for name in ("plain", "callbacks"):
            result = run_phase(name, ssl, files, count, strict)
            report(result)
            failed |= bool(result["problems"])
    print("\nFAILED" if failed else "\nOK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
