"""The callbacks OpenSSL makes about certificates: one for each certificate
of a chain being verified (``SSLContext.set_verify_callback``).

As everywhere in pyssl (see ``_callbacks.py``), nothing a user callback
raises escapes into OpenSSL: it is stored on the connection and raised once
OpenSSL returns. The verify callback's exception is raised itself, with the
failed handshake's ``SSLCertVerificationError`` as its cause: it is the
verdict on the certificate.
"""

from __future__ import annotations

from typing import Any

from pyssl import _x509
from pyssl._callbacks import _keep_first_error, connection_of
from pyssl._lib import ffi, lib

_STORE_CTX_SSL_INDEX = lib.SSL_get_ex_data_X509_STORE_CTX_idx()


# ---- the verify callback ------------------------------------------------------


@ffi.def_extern(error=0)
def pyssl_verify_cb(preverify_ok: int, store_ctx: Any) -> int:
    ssl_ptr = lib.X509_STORE_CTX_get_ex_data(store_ctx, _STORE_CTX_SSL_INDEX)
    if ssl_ptr == ffi.NULL:
        return preverify_ok
    connection = connection_of(ffi.cast("SSL *", ssl_ptr))
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
