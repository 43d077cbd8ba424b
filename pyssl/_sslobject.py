"""SSLObject: TLS without sockets (asyncio, trio), over two MemoryBIOs.

The application moves bytes between the network and the MemoryBIOs
(``_memory_bio.py``); the SSLObject reports what it needs with
SSLWantReadError/SSLWantWriteError (the Connection's sans-I/O contract)
and never blocks. It is what Lib/ssl.py's SSLObject is: the public methods
over its ``_sslobj``, which ``_SSLContext._wrap_bio`` makes.

docs/internals.md says how this fits with the rest.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from pyssl._x509 import chain_to_der

if TYPE_CHECKING:
    from pyssl._connection import Connection


class SSLObject:
    """A TLS connection over a pair of MemoryBIOs, for frameworks that do
    their own I/O. Instances are returned by ``SSLContext.wrap_bio``."""

    _sslobj: Connection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            f"{self.__class__.__name__} does not have a public constructor. "
            "Instances are returned by SSLContext.wrap_bio()."
        )

    @classmethod
    def _create(
        cls,
        incoming: Any,
        outgoing: Any,
        server_side: bool = False,
        server_hostname: str | None = None,
        session: Any = None,
        context: Any = None,
    ) -> SSLObject:
        self = cls.__new__(cls)
        connection = context._wrap_bio(
            incoming,
            outgoing,
            server_side=server_side,
            server_hostname=server_hostname,
            owner=self,
            session=session,
        )
        self._sslobj = connection
        # asyncio and trio call read() and write() for every record: unless
        # a subclass has its own, they go straight to the connection. (An
        # instance attribute over a method: what type checkers refuse.)
        if cls.read is SSLObject.read:
            self.read = connection.read  # type: ignore[method-assign]
        if cls.write is SSLObject.write:
            self.write = connection.write  # type: ignore[method-assign]
        return self

    @property
    def context(self) -> Any:
        """The SSLContext this object is tied to; assignable."""
        return self._sslobj.context

    @context.setter
    def context(self, ctx: Any) -> None:
        self._sslobj.context = ctx

    @property
    def session(self) -> Any:
        """The SSLSession of this connection, or None."""
        return self._sslobj.session

    @session.setter
    def session(self, session: Any) -> None:
        self._sslobj.session = session

    @property
    def session_reused(self) -> bool:
        """Whether the handshake resumed an earlier session."""
        return self._sslobj.session_reused

    @property
    def server_side(self) -> bool:
        """True on the server side."""
        return self._sslobj.server_side

    @property
    def server_hostname(self) -> str | None:
        """The peer's host name (client side), or None."""
        return self._sslobj.server_hostname

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        """Read up to ``len`` bytes (into ``buffer`` if given, returning the
        count)."""
        return self._sslobj.read(len, buffer)

    def write(self, data: Any) -> int:
        """Write ``data``; returns the number of bytes written."""
        return self._sslobj.write(data)

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The peer's certificate, as for SSLSocket.getpeercert()."""
        return self._sslobj.getpeercert(binary_form)

    def get_verified_chain(self) -> list[bytes]:
        """The verified certificate chain, leaf first, as DER bytes."""
        return chain_to_der(self._sslobj.get_verified_chain())

    def get_unverified_chain(self) -> list[bytes]:
        """The chain the peer sent, leaf first, as DER bytes."""
        return chain_to_der(self._sslobj.get_unverified_chain())

    def selected_npn_protocol(self) -> str | None:
        """The protocol NPN selected, or None. NPN is deprecated."""
        warnings.warn(
            "ssl NPN is deprecated, use ALPN instead", DeprecationWarning, stacklevel=2
        )
        return self._sslobj.selected_npn_protocol()

    def selected_alpn_protocol(self) -> str | None:
        """The protocol ALPN selected, or None."""
        return self._sslobj.selected_alpn_protocol()

    def cipher(self) -> Any:
        """(name, protocol, secret bits) of the cipher in use, or None."""
        return self._sslobj.cipher()

    def group(self) -> str | None:
        """The group used for key agreement, or None before the handshake."""
        return self._sslobj.group()

    def client_sigalg(self) -> str | None:
        """The signature algorithm of the client's certificate-based
        authentication, or None before the handshake or without it."""
        return self._sslobj.client_sigalg()

    def server_sigalg(self) -> str | None:
        """The signature algorithm the server completed the handshake with,
        or None before the handshake or when it signed nothing."""
        return self._sslobj.server_sigalg()

    def shared_ciphers(self) -> Any:
        """The ciphers both sides enable (server side only), or None."""
        return self._sslobj.shared_ciphers()

    def compression(self) -> str | None:
        """The compression algorithm in use, or None."""
        return self._sslobj.compression()

    def pending(self) -> int:
        """The number of decrypted bytes ready to be read."""
        return self._sslobj.pending()

    def do_handshake(self) -> None:
        """Perform (a step of) the TLS handshake."""
        self._sslobj.do_handshake()

    def unwrap(self) -> None:
        """Start or complete the TLS shutdown."""
        return self._sslobj.shutdown()

    def get_channel_binding(self, cb_type: str = "tls-unique") -> bytes | None:
        """Channel binding data for ``cb_type`` (RFC 5929 "tls-unique", or
        RFC 9266 "tls-exporter" on TLS 1.3), or None."""
        return self._sslobj.get_channel_binding(cb_type)

    def version(self) -> str | None:
        """The negotiated protocol version, or None before the handshake."""
        return self._sslobj.version()

    def verify_client_post_handshake(self) -> None:
        """Request the client's certificate (TLS 1.3, server side)."""
        return self._sslobj.verify_client_post_handshake()

    # ---- pyssl additions (docs/additions.md) ----------------------------------

    def get_ocsp_response(self) -> bytes | None:
        """The DER OCSP response the server stapled to the handshake, or
        None (see SSLContext.request_ocsp_response)."""
        return self._sslobj.get_ocsp_response()

    def export_keying_material(
        self, label: str | bytes, length: int, context: bytes | None = None
    ) -> bytes:
        """``length`` bytes of keying material for ``label`` (RFC 5705,
        RFC 8446 7.5), the same on both ends; ``context`` None means no
        context value."""
        return self._sslobj.export_keying_material(label, length, context)

    def get_finished(self) -> bytes | None:
        """The latest Finished message this end sent, or None."""
        return self._sslobj.get_finished()

    def get_peer_finished(self) -> bytes | None:
        """The latest Finished message the peer sent, or None."""
        return self._sslobj.get_peer_finished()

    def key_update(self, request_peer: bool = False) -> None:
        """Send a TLS 1.3 KeyUpdate (into the outgoing BIO); with
        ``request_peer`` the peer updates its sending keys too."""
        self._sslobj.key_update(request_peer)

    def read_early_data(self, len: int = 1024) -> bytes:
        """Server side, before do_handshake(): up to ``len`` bytes of the
        client's TLS 1.3 early data; b'' once there is no more. Early data
        can be replayed."""
        return self._sslobj.read_early_data(len)

    def write_early_data(self, data: Any) -> int:
        """Client side, before do_handshake(), on a session whose
        ``max_early_data`` is not 0: send ``data`` as TLS 1.3 early data."""
        return self._sslobj.write_early_data(data)

    @property
    def early_data_accepted(self) -> bool | None:
        """Whether the server accepted the early data; None until the
        handshake is complete."""
        return self._sslobj.early_data_accepted


SSLObject.__module__ = "pyssl"
