"""What pyssl's SSLContext offers beyond the stdlib's: a verify callback,
and a certificate chain and key loaded from memory.

``ContextAdditions`` is a base class of ``SSLContext`` (``_context.py``);
the callbacks it installs are in ``_cert_callbacks.py``, the loading in
``_credentials.py``. docs/additions.md describes the features.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyssl import _cert_callbacks, _credentials  # noqa: F401  (_cert_callbacks installs the callback)
from pyssl._lib import ffi, lib


class ContextAdditions:
    """The SSLContext methods and attributes that go beyond the stdlib."""

    _ctx_ptr: Any
    _verify_callback: Callable[[Any, int, int, bool], Any] | None = None

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
        callback. Connections made before the call keep the callback they
        were made with."""
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
