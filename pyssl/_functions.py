"""Module-level functions of the ssl API that build or describe contexts."""

from __future__ import annotations

import operator
import os
import sys
from collections import namedtuple
from socket import _GLOBAL_DEFAULT_TIMEOUT  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any

from pyssl._arguments import as_c_double
from pyssl._asn1 import _ASN1Object
from pyssl._enums import (
    CERT_NONE,
    CERT_REQUIRED,
    PROTOCOL_TLS_CLIENT,
    PROTOCOL_TLS_SERVER,
    VERIFY_X509_PARTIAL_CHAIN,
    VERIFY_X509_STRICT,
    Purpose,
    _SSLMethod,
)
from pyssl._errors import clear_queue, error_from_queue
from pyssl._lib import ffi, lib

if TYPE_CHECKING:
    from pyssl._sslcontext import SSLContext


def ssl_module() -> Any:
    """The public module. Lib/ssl.py's functions look its globals up when
    they are called, so a program that replaces one (``ssl.SSLContext =
    Sub``, as truststore and gevent do) changes what they build; these
    functions do the same through this."""
    return sys.modules["pyssl"]


def _use_keylog_file(context: SSLContext) -> None:
    keylog = os.environ.get("SSLKEYLOGFILE")
    if (
        keylog
        and not sys.flags.ignore_environment
        and hasattr(context, "keylog_filename")
    ):
        context.keylog_filename = keylog


def create_default_context(
    purpose: Any = Purpose.SERVER_AUTH,
    *,
    cafile: Any = None,
    capath: Any = None,
    cadata: Any = None,
) -> SSLContext:
    """Create a SSLContext object with default settings: for
    ``Purpose.SERVER_AUTH`` (a client), certificates and host names are
    verified against the given or the system's CA certificates."""
    if not isinstance(purpose, _ASN1Object):
        raise TypeError(purpose)
    if purpose == Purpose.SERVER_AUTH:
        context = ssl_module().SSLContext(PROTOCOL_TLS_CLIENT)
        context.verify_mode = CERT_REQUIRED
        context.check_hostname = True
    elif purpose == Purpose.CLIENT_AUTH:
        context = ssl_module().SSLContext(PROTOCOL_TLS_SERVER)
    else:
        raise ValueError(purpose)
    if sys.version_info >= (3, 13):
        # Python 3.13 made chain building stop at the first trust anchor
        # (RFC 5280) and stricter about malformed certificates.
        context.verify_flags |= VERIFY_X509_PARTIAL_CHAIN | VERIFY_X509_STRICT
    if cafile or capath or cadata:
        context.load_verify_locations(cafile, capath, cadata)
    elif context.verify_mode != CERT_NONE:
        context.load_default_certs(purpose)
    _use_keylog_file(context)
    return context


def _create_unverified_context(
    protocol: Any = None,
    *,
    cert_reqs: Any = CERT_NONE,
    check_hostname: bool = False,
    purpose: Any = Purpose.SERVER_AUTH,
    certfile: Any = None,
    keyfile: Any = None,
    cafile: Any = None,
    capath: Any = None,
    cadata: Any = None,
) -> SSLContext:
    """Create a SSLContext for the stdlib's clients that does not verify
    certificates unless asked to (the legacy behaviour)."""
    if not isinstance(purpose, _ASN1Object):
        raise TypeError(purpose)
    if purpose == Purpose.SERVER_AUTH:
        if protocol is None:
            protocol = PROTOCOL_TLS_CLIENT
    elif purpose == Purpose.CLIENT_AUTH:
        if protocol is None:
            protocol = PROTOCOL_TLS_SERVER
    else:
        raise ValueError(purpose)
    context = ssl_module().SSLContext(protocol)
    context.check_hostname = check_hostname
    if cert_reqs is not None:
        context.verify_mode = cert_reqs
    if check_hostname:
        context.check_hostname = True
    if keyfile and not certfile:
        raise ValueError("certfile must be specified")
    if certfile or keyfile:
        context.load_cert_chain(certfile, keyfile)
    if cafile or capath or cadata:
        context.load_verify_locations(cafile, capath, cadata)
    elif context.verify_mode != CERT_NONE:
        context.load_default_certs(purpose)
    _use_keylog_file(context)
    return context


# http.client uses this when no context is given.
_create_default_https_context = create_default_context
# Kept for compatibility, as in the stdlib.
_create_stdlib_context = _create_unverified_context


# ---- describing the installation -------------------------------------------

DefaultVerifyPaths = namedtuple(
    "DefaultVerifyPaths",
    "cafile capath openssl_cafile_env openssl_cafile openssl_capath_env openssl_capath",
)


def _openssl_default_paths() -> tuple[str, str, str, str]:
    def text(ptr: Any) -> str:
        return os.fsdecode(ffi.string(ptr))

    return (
        text(lib.X509_get_default_cert_file_env()),
        text(lib.X509_get_default_cert_file()),
        text(lib.X509_get_default_cert_dir_env()),
        text(lib.X509_get_default_cert_dir()),
    )


def get_default_verify_paths() -> DefaultVerifyPaths:
    """Where OpenSSL looks for CA certificates by default; ``cafile`` and
    ``capath`` honour the environment variables and are None where nothing
    exists."""
    file_env, file_default, dir_env, dir_default = _openssl_default_paths()
    cafile = os.environ.get(file_env, file_default)
    capath = os.environ.get(dir_env, dir_default)
    return DefaultVerifyPaths(
        cafile if os.path.isfile(cafile) else None,
        capath if os.path.isdir(capath) else None,
        file_env,
        file_default,
        dir_env,
        dir_default,
    )


_PROTOCOL_NAMES = {value: name for name, value in _SSLMethod.__members__.items()}


def get_protocol_name(protocol_code: int) -> str:
    return _PROTOCOL_NAMES.get(protocol_code, "<unknown>")


# ---- randomness ------------------------------------------------------------


def RAND_bytes(n: int) -> bytes:  # noqa: N802 - the stdlib's name
    """``n`` cryptographically strong random bytes."""
    n = operator.index(n)
    if n < 0:
        raise ValueError("num must be positive")
    buf = ffi.new("unsigned char[]", n)
    clear_queue()
    if lib.RAND_bytes(buf, n) != 1:
        raise error_from_queue("RAND_bytes")
    return ffi.unpack(ffi.cast("char *", buf), n)


def RAND_status() -> bool:  # noqa: N802
    """True if the random generator has been seeded with enough data."""
    return bool(lib.RAND_status())


_INT_MAX = 2**31 - 1
_RAND_add = lib.RAND_add


def RAND_add(string: Any, entropy: float) -> None:  # noqa: N802
    """Mix ``string`` (str or bytes-like) into the random generator, with
    ``entropy`` bytes of estimated randomness."""
    if isinstance(string, str):
        string = string.encode("utf-8")
    with ffi.from_buffer(string) as data:
        entropy = as_c_double(entropy)
        # RAND_add() counts in an int: more is fed in pieces, as the stdlib does.
        size = len(data)
        done = 0
        while True:
            piece = min(size - done, _INT_MAX)
            _RAND_add(data + done, piece, entropy)
            done += piece
            if done == size:
                break


def get_sigalgs() -> list[str]:
    """The names of the TLS signature algorithms available for servers to
    complete the handshake and for certificate-based client
    authentication: the names SSLContext.set_client_sigalgs() and
    set_server_sigalgs() take. Needs OpenSSL 3.4: NotImplementedError
    before."""
    if not lib.PYSSL_HAS_BUILTIN_SIGALGS:
        raise NotImplementedError(
            "Getting signature algorithms requires OpenSSL 3.4 or later."
        )
    joined = lib.pyssl_builtin_sigalgs()
    if joined == ffi.NULL:
        raise MemoryError()
    try:
        names = os.fsdecode(ffi.string(joined))
    finally:
        lib.OPENSSL_free(joined)
    return names.split(":")


# ---- talking to a server ----------------------------------------------------


def get_server_certificate(
    addr: tuple[str, int],
    ssl_version: int = PROTOCOL_TLS_CLIENT,
    ca_certs: Any = None,
    timeout: Any = _GLOBAL_DEFAULT_TIMEOUT,
) -> str:
    """The PEM certificate of the server at ``addr`` (host, port); verified
    against ``ca_certs`` when given."""
    ssl = ssl_module()
    host, _port = addr
    cert_reqs = CERT_REQUIRED if ca_certs is not None else CERT_NONE
    context = ssl._create_stdlib_context(
        ssl_version, cert_reqs=cert_reqs, cafile=ca_certs
    )
    with ssl.create_connection(addr, timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            der = tls.getpeercert(True)
    return ssl.DER_cert_to_PEM_cert(der)
