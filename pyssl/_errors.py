"""The exception hierarchy and the one place that builds it from OpenSSL.

Every failing OpenSSL call ends here: ``connection_error`` for calls on a
connection (it reads the ``SSL_get_error`` code, the thread's error queue
and the verify result), ``error_from_queue`` for everything else; the
errors pyssl words itself are built here too (``own_error``,
``plain_error``, ``numbered_error``, ``want_error``). Each drains the
error queue, so a later failure is never blamed on this one, and
``clear_queue`` is the only other place that empties it.

docs/internals.md says how this fits with the rest.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from pyssl._lib import ffi, lib

__all__ = [
    "CertificateError",
    "SSLCertVerificationError",
    "SSLEOFError",
    "SSLError",
    "SSLSyscallError",
    "SSLWantReadError",
    "SSLWantWriteError",
    "SSLZeroReturnError",
]

# The stdlib's error numbers (SSLError.args[0]): OpenSSL's SSL_ERROR_*
# codes, plus two of Python's own for an EOF that breaks the protocol and
# a code OpenSSL should never return.
SSL_ERROR_SSL: int = lib.SSL_ERROR_SSL
SSL_ERROR_WANT_READ: int = lib.SSL_ERROR_WANT_READ
SSL_ERROR_WANT_WRITE: int = lib.SSL_ERROR_WANT_WRITE
SSL_ERROR_WANT_X509_LOOKUP: int = lib.SSL_ERROR_WANT_X509_LOOKUP
SSL_ERROR_SYSCALL: int = lib.SSL_ERROR_SYSCALL
SSL_ERROR_ZERO_RETURN: int = lib.SSL_ERROR_ZERO_RETURN
SSL_ERROR_WANT_CONNECT: int = lib.SSL_ERROR_WANT_CONNECT
SSL_ERROR_EOF = 8
SSL_ERROR_INVALID_ERROR_CODE = 10


class SSLError(OSError):
    """An error from the TLS layer; ``library`` and ``reason`` name
    OpenSSL's library and reason mnemonics (``'SSL'``,
    ``'CERTIFICATE_VERIFY_FAILED'``) when OpenSSL reported one."""

    # Set on each error OpenSSL reported; None on the others.
    library: str | None = None
    reason: str | None = None

    def __str__(self) -> str:
        # The message when there is one, else the arguments, as the stdlib.
        if isinstance(self.strerror, str):
            return self.strerror
        return str(self.args)


class SSLZeroReturnError(SSLError):
    """The TLS connection has been closed cleanly (close_notify received)."""


class SSLWantReadError(SSLError):
    """A non-blocking operation needs more data from the peer first."""


class SSLWantWriteError(SSLError):
    """A non-blocking operation needs to send data before it can go on."""


class SSLSyscallError(SSLError):
    """A system error occurred in the TLS layer's I/O."""


class SSLEOFError(SSLError):
    """The connection was closed in violation of the protocol."""


class SSLCertVerificationError(SSLError, ValueError):
    """Certificate verification failed; ``verify_code`` and
    ``verify_message`` say why."""


CertificateError = SSLCertVerificationError

for _cls in (
    SSLError,
    SSLZeroReturnError,
    SSLWantReadError,
    SSLWantWriteError,
    SSLSyscallError,
    SSLEOFError,
    SSLCertVerificationError,
):
    _cls.__module__ = "pyssl"
del _cls


# ---- OpenSSL's mnemonics, from the table generated at build time ---------

_lib_names: dict[int, str] | None = None
_reason_names: dict[tuple[int, int], str] | None = None


def _load_names() -> tuple[dict[int, str], dict[tuple[int, int], str]]:
    global _lib_names, _reason_names
    if _lib_names is None or _reason_names is None:
        libs = {}
        for i in range(lib.pyssl_err_libs_count):
            entry = lib.pyssl_err_libs[i]
            libs[entry.lib] = ffi.string(entry.name).decode("ascii")
        reasons: dict[tuple[int, int], str] = {}
        for i in range(lib.pyssl_err_reasons_count):
            entry = lib.pyssl_err_reasons[i]
            # The first name wins where OpenSSL gives one number two names.
            reasons.setdefault(
                (entry.lib, entry.reason), ffi.string(entry.name).decode("ascii")
            )
        _lib_names, _reason_names = libs, reasons
    return _lib_names, _reason_names


def library_name(lib_code: int) -> str | None:
    return _load_names()[0].get(lib_code)


def reason_name(lib_code: int, reason_code: int) -> str | None:
    reasons = _load_names()[1]
    # Library 0 holds the reasons common to every library (ERR_R_*).
    return reasons.get((lib_code, reason_code)) or reasons.get((0, reason_code))


def _ffi_text(ptr: Any) -> str | None:
    return ffi.string(ptr).decode("utf-8", "replace") if ptr != ffi.NULL else None


def _describe(errcode: int) -> tuple[str | None, str | None, str | None]:
    """(library, reason, text) for a packed OpenSSL error code."""
    if not errcode:
        return None, None, None
    lib_code = lib.ERR_GET_LIB(errcode)
    reason_code = lib.ERR_GET_REASON(errcode)
    return (
        library_name(lib_code),
        reason_name(lib_code, reason_code),
        _ffi_text(lib.ERR_reason_error_string(errcode)),
    )


def _build(
    cls: type[SSLError],
    number: int,
    library: str | None,
    reason: str | None,
    text: str | None,
    where: str,
) -> SSLError:
    text = text or "unknown error"
    if library and reason:
        message = f"[{library}: {reason}] {text}"
    elif library:
        message = f"[{library}] {text}"
    else:
        message = text
    if where:
        message = f"{message} (pyssl:{where})"
    exc = cls(number, message)
    exc.library = library  # type: ignore[attr-defined]
    exc.reason = reason  # type: ignore[attr-defined]
    return exc


def error_from_queue(where: str = "", cls: type[SSLError] = SSLError) -> SSLError:
    """The SSLError for a failed call outside a connection (loading keys,
    configuring a context), built from the newest error in the queue.

    As in the stdlib, ``args[0]`` is the reason part of the OpenSSL error
    code (``ERR_GET_REASON``), e.g. 116 for X509's KEY_VALUES_MISMATCH.
    """
    errcode = lib.ERR_peek_last_error()
    library, reason, text = _describe(errcode)
    lib.ERR_clear_error()
    return _build(cls, lib.ERR_GET_REASON(errcode), library, reason, text, where)


def own_error(text: str, where: str) -> SSLError:
    """An SSLError pyssl raises on its own, with no OpenSSL error behind
    it: number 0 and no library or reason, as the stdlib's. Drains the
    queue."""
    lib.ERR_clear_error()
    return _build(SSLError, 0, None, None, text, where)


def plain_error(text: str) -> SSLError:
    """An SSLError that is only a message, as the stdlib raises for the
    failures it words itself (``SSLError('No cipher can be selected.')``):
    no number, library or reason. Drains the queue."""
    lib.ERR_clear_error()
    return SSLError(text)


def numbered_error(number: int, text: str, reason: str | None = None) -> SSLError:
    """``SSLError(number, text)``, with ``reason`` where the stdlib sets
    one and no library. Drains the queue."""
    lib.ERR_clear_error()
    exc = SSLError(number, text)
    exc.reason = reason
    return exc


def clear_queue() -> None:
    """Empty this thread's error queue: before an OpenSSL call whose
    failure will be reported, so that an older error is not blamed for it,
    and after a failure reported as another exception (a ValueError) or not
    at all."""
    lib.ERR_clear_error()


def _verify_details(conn: Any) -> tuple[int, str]:
    code = lib.SSL_get_verify_result(conn.ssl_ptr)
    if code == lib.X509_V_ERR_HOSTNAME_MISMATCH and conn.server_hostname is None:
        message = (
            "Hostname mismatch: check_hostname is set and no server_hostname was given."
        )
    elif code == lib.X509_V_ERR_HOSTNAME_MISMATCH:
        message = (
            f"Hostname mismatch, certificate is not valid for {conn.server_hostname!r}."
        )
    elif code == lib.X509_V_ERR_IP_ADDRESS_MISMATCH:
        message = f"IP address mismatch, certificate is not valid for {conn.server_hostname!r}."
    else:
        message = _ffi_text(lib.X509_verify_cert_error_string(code)) or ""
    return code, message


_WANT_ERRORS: dict[int, tuple[type[SSLError], str]] = {
    SSL_ERROR_WANT_READ: (SSLWantReadError, "The operation did not complete (read)"),
    SSL_ERROR_WANT_WRITE: (SSLWantWriteError, "The operation did not complete (write)"),
    SSL_ERROR_ZERO_RETURN: (
        SSLZeroReturnError,
        "TLS/SSL connection has been closed (EOF)",
    ),
    SSL_ERROR_WANT_X509_LOOKUP: (
        SSLError,
        "The operation did not complete (X509 lookup)",
    ),
    SSL_ERROR_WANT_CONNECT: (SSLError, "The operation did not complete (connect)"),
}

_EOF_TEXT = "EOF occurred in violation of protocol"

_want_messages: dict[tuple[int, str], str] = {}


def want_error(err: int, where: str) -> SSLError:
    """The exception for an operation that needs I/O first (``err`` is a
    WANT_* code or ZERO_RETURN). Non-blocking code meets these all the
    time, so each message is made once."""
    cls, text = _WANT_ERRORS[err]
    try:
        message = _want_messages[err, where]
    except KeyError:
        message = _want_messages[err, where] = f"{text} (pyssl:{where})"
    return cls(err, message)  # library and reason: the class's None


_OSERROR_FROM_READ_WRITE = sys.version_info >= (3, 13)


def _is_unexpected_eof(errcode: int) -> bool:
    return (
        lib.ERR_GET_LIB(errcode) == lib.ERR_LIB_SSL
        and lib.ERR_GET_REASON(errcode) == lib.SSL_R_UNEXPECTED_EOF_WHILE_READING
    )


def connection_error(conn: Any, err: int, status: Any, where: str) -> OSError:
    """The exception for a failed operation on a connection.

    ``err`` is the ``SSL_get_error`` code; ``status`` holds the errno the
    operation left and the OpenSSL call's return value (see the I/O
    helpers in _native/helpers.h). ``conn`` provides ``ssl_ptr``,
    ``server_hostname`` and ``uses_socket`` (False over memory BIOs).
    """
    if err in _WANT_ERRORS:
        lib.ERR_clear_error()
        return want_error(err, where)

    errcode = lib.ERR_peek_last_error()
    if err == SSL_ERROR_SSL and _is_unexpected_eof(first := lib.ERR_peek_error()):
        # The peer's EOF is the failure; OpenSSL 3.2 and later may queue
        # after it a failure to send the alert about it (EPIPE), which is
        # no cause and depends on how soon the peer closed its end.
        errcode = first
    library, reason, text = _describe(errcode)
    cls = SSLError
    number = err
    if err == SSL_ERROR_SYSCALL:
        # OpenSSL 3.2 and later queue a failed send()/recv() too, with the
        # errno as the reason: the same failure as an empty queue and errno.
        from_system = errcode != 0 and lib.ERR_GET_LIB(errcode) == lib.ERR_LIB_SYS
        if errcode == 0 or from_system:
            lib.ERR_clear_error()
            sys_errno, ret = (status[0], status[1]) if status is not None else (0, 0)
            if from_system:
                sys_errno = lib.ERR_GET_REASON(errcode)
            # The errno of a failed system call is an OSError. Before 3.13
            # the stdlib took it only from a handshake or shutdown returning
            # -1, and reported a failed read or write (the _ex calls return
            # 0) as an EOF, so a reset connection read as a ragged EOF;
            # pyssl does what the running Python's stdlib does.
            if (
                conn.uses_socket
                and sys_errno
                and (ret == -1 or _OSERROR_FROM_READ_WRITE)
            ):
                return OSError(sys_errno, os.strerror(sys_errno))
            if ret not in (0, -1) and conn.uses_socket:
                cls, text = SSLSyscallError, "Some I/O error occurred"
            else:
                cls, number, text = SSLEOFError, SSL_ERROR_EOF, _EOF_TEXT
        elif _is_unexpected_eof(errcode):
            cls = SSLEOFError
    elif err == SSL_ERROR_SSL:
        if errcode == 0:
            text = "A failure in the SSL library occurred"
        elif lib.ERR_GET_LIB(errcode) == lib.ERR_LIB_SSL:
            reason_code = lib.ERR_GET_REASON(errcode)
            if reason_code == lib.SSL_R_CERTIFICATE_VERIFY_FAILED:
                cls = SSLCertVerificationError
            elif (
                reason_code == lib.SSL_R_INVALID_STATUS_RESPONSE
                and lib.SSL_get_verify_result(conn.ssl_ptr) != lib.X509_V_OK
            ):
                # A stapled OCSP response that check_ocsp_response refused
                # (revoked, unknown, untrustworthy): its verdict is the
                # verify result (see _cert_callbacks.pyssl_ocsp_status_cb).
                cls = SSLCertVerificationError
            elif reason_code == lib.SSL_R_UNEXPECTED_EOF_WHILE_READING:
                # OpenSSL 3 reports a transport EOF this way; the stdlib
                # maps it to the EOF error number that suppress_ragged_eofs
                # looks for.
                cls, number, text = SSLEOFError, SSL_ERROR_EOF, _EOF_TEXT
    else:
        cls, number, text = SSLError, SSL_ERROR_INVALID_ERROR_CODE, "Invalid error code"

    verify: tuple[int, str] | None = None
    if cls is SSLCertVerificationError:
        verify = _verify_details(conn)
        text = f"{text}: {verify[1]}"
    lib.ERR_clear_error()
    exc = _build(cls, number, library, reason, text, where)
    if verify is not None:
        exc.verify_code, exc.verify_message = verify  # type: ignore[attr-defined]
    return exc
