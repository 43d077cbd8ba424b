"""``python -m pyssl [command]`` (or ``pyssl [command]``): the command line.

Commands:
  info (default)  OpenSSL version, features and a loopback handshake
  bench           the stdlib ssl and pyssl measured side by side (--quick)
  conformance     run this interpreter's test.test_ssl against pyssl
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "info"
    if command in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    if command == "info":
        from pyssl._cli.info import main as info

        return info(args[1:])
    if command == "bench":
        from pyssl._cli.bench.runner import main as bench

        return bench(args[1:])
    if command == "conformance":
        from pyssl._cli.conformance import main as conformance

        return conformance(args[1:])
    print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 2
