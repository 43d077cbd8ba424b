"""What the tests of third-party clients expect of a connection in each of
the set-ups the ``client_setup`` fixture (conftest.py) runs them in.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest
from injected_driver import BLOCKED_IMPORT

# The set-ups, by name: the SETUP words of each. Besides the two of
# test_real_clients.py, the stdlib's ssl alone, without pyssl: a library
# that fails there fails for a reason of its own, not pyssl's.
SETUPS = {
    "stdlib-alone": "none",
    "stdlib-present": "preload+inject",
    "_ssl-blocked": "block+inject",
}


def ssl_module(setup: str) -> str:
    """The name the ssl module doing TLS in ``setup`` gives its classes."""
    return "ssl" if setup == SETUPS["stdlib-alone"] else "pyssl"


def low_level(setup: str) -> str:
    """... and the name of its ``_ssl`` module."""
    return "_ssl" if setup == SETUPS["stdlib-alone"] else "pyssl._ssl"


def connection(setup: str, socket: str = "SSLObject", alpn: str | None = None) -> dict:
    """What tls_of() reports of a connection made in ``setup`` with the ssl
    module's own classes: ``socket`` ("SSLSocket" or "SSLObject"), its
    context, TLS 1.3 and the ALPN protocol."""
    module = ssl_module(setup)
    return {
        "socket": f"{module}.{socket}",
        "context": f"{module}.SSLContext",
        "version": "TLSv1.3",
        "alpn": alpn,
    }


def verify_failure(setup: str, raised: str | None = None) -> dict:
    """What a scenario reports when the client refused the server's
    certificate because no CA it trusts issued it: what the library
    raised (by default the ssl module's error itself) and the error at its
    root."""
    error = f"{ssl_module(setup)}.SSLCertVerificationError"
    return {
        "raised": raised or error,
        "error": error,
        "verify_code": 20,  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        "verify_message": "unable to get local issuer certificate",
    }


def checked(result: dict, setup: str, unclosed: list[str] | None = None) -> dict:
    """``result`` without the entries every scenario reports, once they
    are as they must be: the set-up, how importing the stdlib's ssl failed
    where ``_ssl`` was blocked, and the classes of the objects a
    ResourceWarning said were left open (by default none)."""
    result = dict(result)
    assert result.pop("setup") == setup
    if setup == SETUPS["_ssl-blocked"]:
        assert result.pop("stdlib_ssl_import") == BLOCKED_IMPORT
    assert result.pop("unclosed") == (unclosed or [])
    return result


def require(*packages: str) -> None:
    """Skip the test where one of the (top-level) ``packages`` its driver
    imports is not installed: the test extras bring them wherever they
    have a release for the running CPython."""
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        version = ".".join(map(str, sys.version_info[:2]))
        pytest.skip(f"{', '.join(missing)} not installed for CPython {version}")
