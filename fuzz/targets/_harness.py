"""What every fuzz target shares: pyssl imported under atheris'
instrumentation, the stdlib ``ssl`` to compare with, scratch files, and
the rule for exceptions.

A target may let through only the exceptions pyssl documents for bad
input (``SSLError`` and its subclasses, ``ValueError``, and ``TypeError``
where the API documents it); anything else escapes ``TestOneInput`` and
atheris reports it as a crash, with the input that caused it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from typing import Any

try:
    import atheris
except ImportError:  # replaying inputs without fuzzing (tests/test_fuzz_seeds.py)
    atheris = None

if atheris is not None and "pyssl" not in sys.modules:
    with atheris.instrument_imports(include=["pyssl"]):
        import pyssl
        import pyssl._ssl
else:
    import pyssl
    import pyssl._ssl

try:
    import ssl as stdlib_ssl
except ImportError:  # an interpreter without ssl: nothing to compare with
    stdlib_ssl = None  # type: ignore[assignment]

# The documented failures for bad input.
EXPECTED: tuple[type[BaseException], ...] = (pyssl.SSLError, ValueError)


class Finding(AssertionError):
    """pyssl broke one of its promises on this input."""


def _scratch_root() -> str:
    # In memory where the system offers it: targets write a file per input.
    base = (
        "/dev/shm"
        if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK)
        else None
    )
    path = tempfile.mkdtemp(prefix="pyssl-fuzz-", dir=base)
    atexit.register(shutil.rmtree, path, True)
    return path


SCRATCH = _scratch_root()


def scratch_file(name: str, content: bytes) -> str:
    """Write ``content`` to the scratch file ``name``; returns its path."""
    path = os.path.join(SCRATCH, name)
    with open(path, "wb") as f:
        f.write(content)
    return path


def outcome(
    action: Callable[[], Any], *allowed: type[BaseException]
) -> tuple[str, Any]:
    """("returned", value) or ("raised", exception) for an allowed exception
    (the documented ones plus ``allowed``); any other exception escapes."""
    try:
        return ("returned", action())
    except (*EXPECTED, *allowed) as exc:
        return ("raised", exc)


def reference(action: Callable[[], Any]) -> tuple[str, Any]:
    """The stdlib's outcome for the same input: whatever it raises is the
    behaviour pyssl is compared with."""
    try:
        return ("returned", action())
    except Exception as exc:
        return ("raised", exc)


def kind(result: tuple[str, Any]) -> tuple[str, Any]:
    """An outcome made comparable between pyssl and the stdlib: the value,
    or the exception's class name (the classes are each module's own)."""
    what, value = result
    if what == "raised":
        return (what, type(value).__name__)
    return result


def same(where: str, ours: tuple[str, Any], theirs: tuple[str, Any]) -> None:
    """pyssl and the stdlib must agree on this input."""
    if kind(ours) != kind(theirs):
        raise Finding(f"{where}: pyssl {ours!r} but the stdlib {theirs!r}")


def ascii_text(data: bytes) -> str:
    return data.decode("latin-1")


def run(test_one_input: Callable[[bytes], None]) -> None:
    """Start atheris on ``test_one_input`` with the command-line options."""
    if atheris is None:
        sys.exit(f"atheris is not installed for {sys.executable}")
    print(f"fuzzing {pyssl.__file__} on {pyssl.OPENSSL_VERSION}", file=sys.stderr)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


def handshake(
    module: Any, client_ctx: Any, server_ctx: Any, **client_settings: Any
) -> tuple[Any, ...]:
    """A handshake between ``module``'s SSLObjects over MemoryBIOs:
    (client, server, client outcome, server outcome). Each outcome is
    ("returned", None) or ("raised", the exception that ended that side)."""
    bios = [module.MemoryBIO() for _ in range(4)]
    client = client_ctx.wrap_bio(bios[0], bios[1], **client_settings)
    server = server_ctx.wrap_bio(bios[2], bios[3], server_side=True)
    results: dict[Any, tuple[str, Any]] = {}
    for _ in range(8):
        for obj in (client, server):
            if obj in results:
                continue
            try:
                obj.do_handshake()
            except module.SSLWantReadError:
                continue
            except Exception as exc:
                # The stdlib's outcomes are the reference; pyssl's must be
                # the documented ones.
                if module is pyssl and not isinstance(exc, EXPECTED):
                    raise
                results[obj] = ("raised", exc)
            else:
                results[obj] = ("returned", None)
        moved = False
        for source, target in ((bios[1], bios[2]), (bios[3], bios[0])):
            data = source.read()
            if data:
                target.write(data)
                moved = True
        if not moved:
            break
    waiting = ("raised", module.SSLWantReadError("stalled"))
    return client, server, results.get(client, waiting), results.get(server, waiting)


_credentials: dict[str, str] = {}


def credentials() -> dict[str, str]:
    """Files made for this run: "ca" (a CA's certificate) and "chain" (key
    and certificate it signed for localhost, 127.0.0.1 and an IDN)."""
    if not _credentials:
        import trustme

        ca = trustme.CA()
        leaf = ca.issue_cert("localhost", "127.0.0.1", "xn--bcher-kva.example")
        _credentials["ca"] = scratch_file("ca.pem", ca.cert_pem.bytes())
        _credentials["chain"] = scratch_file(
            "chain.pem", leaf.private_key_and_cert_chain_pem.bytes()
        )
    return _credentials
