#!/usr/bin/env python3
"""Machine instructions per call of pyssl's hot paths, counted by valgrind's
callgrind: exact and repeatable where timings on a shared machine are not.

    python .ci/hot_path_instructions.py LABEL=PYTHON[:PKGDIR] [LABEL=...]

Each LABEL runs the workloads with the interpreter PYTHON, importing pyssl
from PKGDIR (a directory holding the ``pyssl`` package, such as an unpacked
wheel; without it, the one PYTHON has installed). A workload's cost is the
difference between the instruction counts of two runs that differ only in
the number of operations, divided by that number: start-up, imports,
certificates and the warm-up calls cancel out.

Used to choose between the stable ABI and each CPython's full C API for
the binding (``_native/build.py``): build both, unpack them, compare.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

# workload -> (operations in the short run, extra operations in the long one)
WORKLOADS = {
    "SSLObject write+read 16 KiB": (20, 200),
    "SSLSocket.pending()": (100, 20000),
    "SSLSocket.version()": (100, 20000),
    "TLS 1.3 handshake in memory": (2, 20),
    "SSLSocket send+recv 64 B": (100, 5000),
    "SSLSocket wrap+close": (20, 500),
}


# ---- the child: runs one workload N times -------------------------------------


def _run_child(workload: str, count: int, chain: str) -> None:
    import socket
    import threading

    import pyssl as ssl
    from pyssl._cli.bench.workloads import memory_pair

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(chain)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(chain)
    for ctx in (server_ctx, client_ctx):
        ctx.maximum_version = ssl.TLSVersion.TLSv1_3

    if workload == "SSLObject write+read 16 KiB":
        client, server, c_in, s_out = memory_pair(ssl, server_ctx, client_ctx)
        chunk = bytes(range(256)) * 64
        buf = bytearray(len(chunk))
        for _ in range(count):
            server.write(chunk)
            c_in.write(s_out.read())
            got = 0
            while got < len(chunk):
                got += client.read(len(chunk) - got, memoryview(buf)[got:])
    elif workload == "TLS 1.3 handshake in memory":
        for _ in range(count):
            memory_pair(ssl, server_ctx, client_ctx)
    elif workload == "SSLSocket send+recv 64 B":
        a, b = socket.socketpair()
        accepted = []
        server = threading.Thread(
            target=lambda: accepted.append(server_ctx.wrap_socket(b, server_side=True))
        )
        server.start()
        with client_ctx.wrap_socket(a, server_hostname="localhost") as tls:
            server.join()
            with accepted[0] as peer:
                message = bytes(64)
                # Past the TLS 1.3 session tickets: every recv() then finds
                # its record there, and nothing blocks.
                tls.sendall(message)
                peer.recv(64)
                peer.sendall(message)
                tls.recv(64)
                for _ in range(count):
                    tls.send(message)
                    peer.recv(64)
    elif workload == "SSLSocket wrap+close":
        # A connected socket wrapped without a handshake, then closed: the
        # SSL* is made, and freed with the descriptor.
        for _ in range(count):
            a, b = socket.socketpair()
            client_ctx.wrap_socket(
                a, server_hostname="localhost", do_handshake_on_connect=False
            ).close()
            b.close()
    else:
        a, b = socket.socketpair()
        server = threading.Thread(
            target=lambda: server_ctx.wrap_socket(b, server_side=True).recv(1)
        )
        server.start()
        with client_ctx.wrap_socket(a, server_hostname="localhost") as tls:
            call = tls.pending if workload == "SSLSocket.pending()" else tls.version
            for _ in range(count):
                call()
            tls.sendall(b"x")
        server.join()
        b.close()


# ---- the parent: runs the children under callgrind ----------------------------


def _instructions(
    python: str, pkgdir: str | None, workload: str, count: int, chain: str, tmp: str
) -> int:
    out = os.path.join(tmp, "callgrind.out")
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if pkgdir:
        env["PYTHONPATH"] = pkgdir
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            "--quiet",
            python,
            os.path.abspath(__file__),
            "--child",
            workload,
            str(count),
            chain,
        ],
        env=env,
        cwd=tmp,
        check=True,
    )
    with open(out) as f:
        match = re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M)
    os.unlink(out)
    assert match, "no instruction total in the callgrind output"
    return int(match.group(1))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        _run_child(argv[1], int(argv[2]), argv[3])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("builds", nargs="+", metavar="LABEL=PYTHON[:PKGDIR]")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed")
    builds = []
    for spec in args.builds:
        label, _, rest = spec.partition("=")
        python, _, pkgdir = rest.partition(":")
        builds.append((label, python, pkgdir or None))

    with tempfile.TemporaryDirectory() as tmp:
        chain = subprocess.run(
            [
                builds[0][1],
                "-c",
                "import sys, pyssl._cli.selfsigned as s; print(s.write_self_signed(sys.argv[1], 'ec'))",
                tmp,
            ],
            env={**os.environ, "PYTHONPATH": builds[0][2] or ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        print(f"{'workload':30} " + " ".join(f"{label:>14}" for label, _, _ in builds))
        for workload, (short, extra) in WORKLOADS.items():
            costs = []
            for _, python, pkgdir in builds:
                low = _instructions(python, pkgdir, workload, short, chain, tmp)
                high = _instructions(
                    python, pkgdir, workload, short + extra, chain, tmp
                )
                costs.append((high - low) / extra)
            print(
                f"{workload:30} " + " ".join(f"{cost:14,.0f}" for cost in costs),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
