"""What a peer said about its certificate's status: the part of
``Connection`` (``_connection.py``) that reads the OCSP response a server
stapled to the handshake."""

from __future__ import annotations

from typing import Any

from pyssl._lib import ffi, lib


class PeerStatus:
    """Getters over ``self.ssl_ptr`` for the certificate status the peer
    sent; no state of their own."""

    __slots__ = ()

    ssl_ptr: Any
    server_side: bool

    def get_ocsp_response(self) -> bytes | None:
        """The DER OCSP response the server stapled to the handshake; None
        on the server side, before the handshake, when the client did not
        ask for one (``SSLContext.request_ocsp_response``) or when the
        server sent none."""
        if self.server_side:
            return None
        data = ffi.new("const unsigned char **")
        size = lib.SSL_get_tlsext_status_ocsp_resp(self.ssl_ptr, data)
        if data[0] == ffi.NULL or size <= 0:
            return None
        return ffi.unpack(ffi.cast("char *", data[0]), size)
