"""One measurement in a fresh process:
``python -m pyssl._cli.bench.child MODULE WORKLOAD SECONDS EC_CHAIN RSA_CHAIN``
prints the result as JSON. MODULE is ``stdlib`` or ``pyssl``."""

from __future__ import annotations

import importlib
import json
import sys


def main(argv: list[str]) -> int:
    module_name, workload_name, seconds, ec_chain, rsa_chain = argv
    if module_name == "pyssl":
        import pyssl

        # asyncio must run on pyssl too: make it the ssl module everywhere.
        pyssl.inject_into_stdlib()
        module = pyssl
    else:
        # The stdlib module is what pyssl is measured against; the runner
        # asks for it only where it can be imported.
        module = importlib.import_module("ssl")
    from pyssl._cli.bench.workloads import BY_NAME, Files

    value = BY_NAME[workload_name].run(
        module, Files(ec=ec_chain, rsa=rsa_chain), float(seconds)
    )
    print(json.dumps({"value": value}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
