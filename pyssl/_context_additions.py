"""What pyssl's SSLContext offers beyond the stdlib's: a verify callback,
a certificate chain and key loaded from memory, and OCSP stapling.

``ContextAdditions`` is a base class of ``SSLContext`` (``_context.py``);
the callbacks it installs are in ``_cert_callbacks.py``, the loading in
``_credentials.py``. docs/additions.md describes the features.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyssl import _cert_callbacks, _credentials
from pyssl._enums import _SSLMethod
from pyssl._lib import HAS_OCSP_STAPLING, ffi, lib

# SSL_CTX_set_tlsext_status_type(): the client asks for no status.
_STATUS_TYPE_NOTHING = -1


def _require_ocsp() -> None:
    if not HAS_OCSP_STAPLING:
        raise NotImplementedError("OCSP stapling is not supported by this OpenSSL")


class ContextAdditions:
    """The SSLContext methods and attributes that go beyond the stdlib."""

    _ctx_ptr: Any
    _key: Any
    _protocol: int
    _verify_callback: Callable[[Any, int, int, bool], Any] | None = None
    # A server's staple: bytes, a callable, or None (see set_ocsp_response).
    _ocsp_response: Any = None
    _check_ocsp_response = False

    # ---- the verify callback -------------------------------------------------

    def set_verify_callback(self, callback: Callable[[Any, int, int, bool], Any] | None) -> None:
        """Call ``callback(certificate, depth, error_code, preverified)`` for
        each certificate of the peer's chain that OpenSSL verifies: the
        trust anchor first (highest depth), the peer's own certificate
        (depth 0) last, and again for a certificate OpenSSL finds a fault
        with. ``certificate`` is a ``Certificate`` (as in
        ``get_verified_chain()``), ``error_code`` OpenSSL's verify error
        (0 when none), ``preverified`` OpenSSL's verdict. The callback's
        truth value is the verdict: true accepts the certificate, false
        fails the handshake with ``SSLCertVerificationError``. An exception
        fails it too, and is raised by the handshake itself, with the
        ``SSLCertVerificationError`` as its cause. None removes the
        callback. A connection uses the callback of the context it was made
        with (not of one an SNI callback switches to); one made while that
        context had no callback calls none."""
        if callback is None:
            self._verify_callback = None
            function = ffi.NULL
        elif not callable(callback):
            raise TypeError("not a callable object")
        else:
            self._verify_callback = callback
            function = lib.pyssl_verify_cb
        lib.SSL_CTX_set_verify(self._ctx_ptr, lib.SSL_CTX_get_verify_mode(self._ctx_ptr), function)

    # ---- certificates and keys from memory -----------------------------------

    def load_cert_chain_from_memory(
        self, certdata: str | bytes | Any, keydata: str | bytes | Any = None, password: Any = None
    ) -> None:
        """Load a certificate chain and its private key from memory, as
        ``load_cert_chain()`` loads them from files. ``certdata`` is the
        certificate followed by its intermediates: PEM (``str`` or bytes)
        or DER (bytes of certificates one after another). ``keydata`` is
        the private key, PEM or DER (PKCS#8, encrypted or not, or the key
        type's own format); without it the key is read from ``certdata``.
        Bytes that begin with an ASN.1 SEQUENCE (0x30) are DER. ``password``
        decrypts the key, as for ``load_cert_chain()``. Nothing is written
        to disk."""
        _credentials.load_cert_chain_from_memory(self._ctx_ptr, certdata, keydata, password)

    # ---- OCSP stapling ------------------------------------------------------------

    def _install_status_callback(self) -> None:
        if self._ocsp_response is not None or self._check_ocsp_response:
            lib.SSL_CTX_set_tlsext_status_cb(self._ctx_ptr, lib.pyssl_ocsp_status_cb)
            lib.SSL_CTX_set_tlsext_status_arg(self._ctx_ptr, self._key)
        else:
            lib.SSL_CTX_set_tlsext_status_cb(self._ctx_ptr, ffi.NULL)

    def set_ocsp_response(self, response: bytes | Callable[[Any], Any] | None) -> None:
        """Server side: staple this DER OCSP response (bytes-like) to every
        handshake whose client asks for one, or, given a callable, call
        ``response(sslsocket_or_sslobject)`` during each such handshake
        for the DER bytes to staple (None staples nothing; an exception
        fails the handshake and is the cause of its ``SSLError``). The
        response is sent as given. None stops stapling."""
        _require_ocsp()
        if self._protocol == _SSLMethod.PROTOCOL_TLS_CLIENT:
            raise ValueError("set_ocsp_response() cannot be used on a TLS_CLIENT context")
        if response is not None and not callable(response):
            response = _cert_callbacks.staple_bytes(response)
        self._ocsp_response = response
        self._install_status_callback()

    @property
    def request_ocsp_response(self) -> bool:
        """Client side: whether to ask the server to staple an OCSP response
        to the handshake (read with ``get_ocsp_response()``)."""
        if not HAS_OCSP_STAPLING:
            return False
        return lib.SSL_CTX_get_tlsext_status_type(self._ctx_ptr) == lib.TLSEXT_STATUSTYPE_ocsp

    @request_ocsp_response.setter
    def request_ocsp_response(self, value: Any) -> None:
        _require_ocsp()
        request = bool(value)
        if self._protocol == _SSLMethod.PROTOCOL_TLS_SERVER:
            raise ValueError("request_ocsp_response cannot be set on a TLS_SERVER context")
        if not request and self._check_ocsp_response:
            raise ValueError(
                "Cannot disable request_ocsp_response when check_ocsp_response is enabled."
            )
        status_type = lib.TLSEXT_STATUSTYPE_ocsp if request else _STATUS_TYPE_NOTHING
        lib.SSL_CTX_set_tlsext_status_type(self._ctx_ptr, status_type)

    @property
    def check_ocsp_response(self) -> bool:
        """Client side: whether a stapled OCSP response must vouch for the
        server's certificate. The response is checked against the verified
        chain: signed by the certificate's issuer (or a responder it
        delegated to), current, about this certificate. ``revoked`` fails
        the handshake with ``SSLCertVerificationError`` (``verify_code``
        23, "certificate revoked"), ``unknown`` with 75, a response that
        cannot be trusted with 74. A server that staples nothing passes.
        Setting it also sets ``request_ocsp_response``."""
        return self._check_ocsp_response

    @check_ocsp_response.setter
    def check_ocsp_response(self, value: Any) -> None:
        _require_ocsp()
        check = bool(value)
        if self._protocol == _SSLMethod.PROTOCOL_TLS_SERVER:
            raise ValueError("check_ocsp_response cannot be set on a TLS_SERVER context")
        if check:
            self.request_ocsp_response = True
        self._check_ocsp_response = check
        self._install_status_callback()
