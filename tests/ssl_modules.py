"""Which ssl module a test runs: pyssl itself, or the stdlib's ``ssl`` that
pyssl is compared with; what the OpenSSL each links decides; and how the
two modules' results are made comparable."""

from __future__ import annotations

import re
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import pyssl

try:
    import ssl as STDLIB_SSL
except ImportError:  # an interpreter built without ssl, or _ssl blocked
    STDLIB_SSL = None  # type: ignore[assignment]
if (
    STDLIB_SSL is pyssl
):  # injected at start-up (PYSSL_INJECT=1): no stdlib to compare with
    STDLIB_SSL = None  # type: ignore[assignment]
NO_STDLIB_SSL = "no stdlib ssl in this interpreter (built without it, or pyssl injected in its place)"
needs_stdlib_ssl = pytest.mark.skipif(STDLIB_SSL is None, reason=NO_STDLIB_SSL)


# ---- which ssl module plays the peer ---------------------------------------

PEER_MODULES = ["pyssl", "stdlib"]


def module_named(name: str) -> Any:
    if name == "pyssl":
        return pyssl
    if STDLIB_SSL is None:
        pytest.skip(NO_STDLIB_SSL)
    return STDLIB_SSL


def module_offering(name: str, owner: str, attribute: str, why_missing: str) -> Any:
    """module_named(name), skipping the test where ``owner`` (a class of the
    module) lacks ``attribute``: an API newer than this Python's stdlib."""
    module = module_named(name)
    if not hasattr(getattr(module, owner), attribute):
        pytest.skip(f"this Python's stdlib ssl has no {why_missing}")
    return module


def module_of(ctx: Any) -> Any:
    """The ssl module (pyssl or the stdlib's) an SSLContext belongs to."""
    return pyssl if isinstance(ctx, pyssl.SSLContext) else STDLIB_SSL


# ---- what the linked OpenSSL decides --------------------------------------------
# pyssl passes on what its OpenSSL reports, and releases differ in some of it:
# the reason a record-layer failure ends with, alerts, default groups, how
# strictly times are parsed, the order of a certificate store. Tests expect
# what the module's own release does, and compare such output with the
# stdlib's only where both link the same release.


def openssl_at_least(module: Any, *version: int) -> bool:
    """Whether ``module`` (pyssl or the stdlib's ssl) links OpenSSL
    ``version`` or newer."""
    return tuple(module.OPENSSL_VERSION_INFO[: len(version)]) >= version


def reason_since(module: Any, reason: str, *version: int) -> str | None:
    """``reason``, a reason code new in OpenSSL ``version``, as ``module``
    reports it: by name if the module was built against headers that have
    it (``_OPENSSL_API_VERSION``), else None. The stdlib built against
    older headers can run on a newer libssl: the one a pyssl built against
    it loaded into the process first, or one from LD_LIBRARY_PATH."""
    return (
        reason
        if tuple(module._OPENSSL_API_VERSION[: len(version)]) >= version
        else None
    )


def same_openssl(module: Any) -> bool:
    """Whether ``module`` links the same OpenSSL release as pyssl."""
    return module.OPENSSL_VERSION_INFO == pyssl.OPENSSL_VERSION_INFO


# ---- comparing pyssl with the stdlib -----------------------------------------


def close_what_wrap_socket_left_open(error: BaseException) -> None:
    """Close the SSLSocket that the stdlib's wrap_socket() made, and left
    open, before raising ``error``.

    Until CPython 3.13, SSLSocket._create closes the socket it has taken
    the descriptor into on OSError and ValueError only (CPython
    gh-113280): when server_hostname is refused with another error, the
    caller, who never got that socket, has no other way to close it.
    Where the stdlib did close it, closing it again does nothing."""
    if STDLIB_SSL is None:
        return
    for frame, _line in traceback.walk_tb(error.__traceback__):
        made = frame.f_locals.get("self")
        if frame.f_code.co_name == "_create" and isinstance(made, STDLIB_SSL.SSLSocket):
            made.close()


# Where an error was raised ("(_ssl.c:1006)", "(pyssl:do_handshake)") is no
# part of the behaviour being compared.
_ERROR_LOCATION = re.compile(r" \((?:_ssl\.c|pyssl):[^)]*\)$")


def outcome(action: Callable[[Any], Any], module: Any) -> tuple[Any, ...]:
    """What ``action(module)`` does, comparable between pyssl and the
    stdlib: ("returned", repr of the result) or ("raised", exception type
    name, args), then the warnings it gave as (category, message, file,
    line)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result: tuple[Any, ...] = ("returned", repr(action(module)))
        except Exception as exc:
            args = tuple(
                _ERROR_LOCATION.sub("", a) if isinstance(a, str) else a
                for a in exc.args
            )
            result = ("raised", type(exc).__name__, args)
    given = [
        (w.category.__name__, str(w.message), w.filename, w.lineno) for w in caught
    ]
    return (*result, given)
