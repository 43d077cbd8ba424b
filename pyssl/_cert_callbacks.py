"""The callbacks OpenSSL makes about certificates: one for each certificate
of a chain being verified (``SSLContext.set_verify_callback``), and one for
the OCSP status of a server's certificate (``set_ocsp_response`` on a
server, ``check_ocsp_response`` on a client).

As everywhere in pyssl (see ``_callbacks.py``), nothing a user callback
raises escapes into OpenSSL: it is stored on the connection and raised once
OpenSSL returns. The verify callback's exception is raised itself, with the
failed handshake's ``SSLCertVerificationError`` as its cause: it is the
verdict on the certificate. The staple callback's is the cause of the
server's ``SSLError``, as for the SNI callback.
"""

from __future__ import annotations

from typing import Any

from pyssl import _x509
from pyssl._callbacks import _keep_first_error, _python_side, connection_of, lookup
from pyssl._lib import ffi, lib

_STORE_CTX_SSL_INDEX = lib.SSL_get_ex_data_X509_STORE_CTX_idx()


# ---- the verify callback ------------------------------------------------------


@ffi.def_extern(error=0)
def pyssl_verify_cb(preverify_ok: int, store_ctx: Any) -> int:
    ssl_ptr = lib.X509_STORE_CTX_get_ex_data(store_ctx, _STORE_CTX_SSL_INDEX)
    if ssl_ptr == ffi.NULL:
        return preverify_ok
    connection = connection_of(ffi.cast("SSL *", ssl_ptr))
    if (
        preverify_ok
        and connection is not None
        and connection._no_name_to_check
        and lib.X509_STORE_CTX_get_error_depth(store_ctx) == 0
    ):
        # The server's own certificate, which OpenSSL accepts: with no
        # name to check it against, it is not accepted (see
        # Connection.refuse_unnamed_peer).
        lib.X509_STORE_CTX_set_error(store_ctx, lib.X509_V_ERR_HOSTNAME_MISMATCH)
        preverify_ok = 0
    # The callback of the context the connection was made with: OpenSSL
    # keeps that context's verify settings when SNI switches the context.
    context = connection._original_context if connection is not None else None
    callback = context._verify_callback if context is not None else None
    if callback is None:
        return preverify_ok
    error = lib.X509_STORE_CTX_get_error(store_ctx)
    try:
        x509 = lib.X509_STORE_CTX_get_current_cert(store_ctx)
        certificate = _x509.certificate_from_ptr(x509) if x509 != ffi.NULL else None
        depth = lib.X509_STORE_CTX_get_error_depth(store_ctx)
        accepted = bool(callback(certificate, depth, error, bool(preverify_ok)))
    except BaseException as exc:
        _keep_first_error(connection, exc, raised_itself=True)
        accepted = False
    if accepted:
        # What the callback accepts counts as verified: the verify result
        # (and the error a later certificate would inherit) is cleared.
        if not preverify_ok:
            lib.X509_STORE_CTX_set_error(store_ctx, lib.X509_V_OK)
        return 1
    if error == lib.X509_V_OK:
        # Refused where OpenSSL found no fault: say so, rather than leave
        # OpenSSL to report an unspecified error.
        lib.X509_STORE_CTX_set_error(store_ctx, lib.X509_V_ERR_APPLICATION_VERIFICATION)
    return 0


# ---- OCSP stapling ------------------------------------------------------------


def staple_bytes(response: Any) -> bytes:
    """A DER OCSP response to staple, as bytes: a non-empty bytes-like object."""
    try:
        data = bytes(memoryview(response))
    except TypeError:
        raise TypeError(
            f"an OCSP response must be a bytes-like object, not {type(response).__name__}"
        ) from None
    if not data:
        raise ValueError("an OCSP response cannot be empty")
    return data


def _server_staple(context: Any, ssl_ptr: Any, connection: Any) -> int:
    response = context._ocsp_response
    try:
        if callable(response):
            response = response(_python_side(connection))
            if response is None:
                return lib.SSL_TLSEXT_ERR_NOACK
            response = staple_bytes(response)
        elif response is None:
            return lib.SSL_TLSEXT_ERR_NOACK
    except BaseException as exc:
        _keep_first_error(connection, exc)
        return lib.SSL_TLSEXT_ERR_ALERT_FATAL
    if not lib.pyssl_staple_ocsp_response(ssl_ptr, response, len(response)):
        return lib.SSL_TLSEXT_ERR_ALERT_FATAL
    return lib.SSL_TLSEXT_ERR_OK


# Returns for a server: SSL_TLSEXT_ERR_OK (staple sent), _NOACK (none) or
# _ALERT_FATAL; for a client: 1 (accept), 0 (refuse the response, which
# fails the handshake). Should Python itself fail, 0 refuses on a client
# and staples nothing on a server.
@ffi.def_extern(error=0)
def pyssl_ocsp_status_cb(ssl_ptr: Any, arg: Any) -> int:
    context = lookup(arg)
    if context is None:
        return 0
    if lib.SSL_is_server(ssl_ptr):
        return _server_staple(context, ssl_ptr, connection_of(ssl_ptr))
    if not context._check_ocsp_response:
        return 1
    if lib.SSL_get_verify_result(ssl_ptr) != lib.X509_V_OK:
        # A chain that did not verify, under CERT_NONE: nothing verified to
        # check the response against.
        return 1
    result = lib.pyssl_check_ocsp_response(ssl_ptr)
    if result == lib.X509_V_OK:
        return 1
    # Reported as a verification failure (see _errors.connection_error).
    lib.SSL_set_verify_result(ssl_ptr, result)
    return 0
