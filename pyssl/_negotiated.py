"""What a handshake settled: the getters of a Connection.

``NegotiatedState`` is the part of ``Connection`` (``_connection.py``) that
reports the protocol, cipher, ALPN/NPN protocol, certificates and channel
binding. The getters keep what they looked up once the handshake is
finished, in slots of the connection, until ``Connection._forget()``; in
the middle of a handshake they ask OpenSSL each time.
"""

from __future__ import annotations

from typing import Any

from pyssl import _x509
from pyssl._ciphers import cipher_list, cipher_to_tuple
from pyssl._errors import error_from_queue
from pyssl._lib import ffi, lib

# What a getter has not looked up since the last handshake.
UNKNOWN: Any = type("_Unknown", (), {"__repr__": lambda self: "<unknown>"})()

# RFC 5929 tls-unique is a Finished message: 12 bytes in TLS 1.2, at most
# the hash length (48) in TLS 1.3.
_FINISHED_MAX = 128

# The channel binding types get_channel_binding() knows: the stdlib's
# CHANNEL_BINDING_TYPES, and RFC 9266's for TLS 1.3, which pyssl adds.
BINDING_TYPES = ("tls-unique", "tls-exporter")
_TLS_EXPORTER_LABEL = b"EXPORTER-Channel-Binding"
_TLS_EXPORTER_SIZE = 32


class NegotiatedState:
    """Getters over ``self.ssl_ptr`` and the cache slots that
    ``Connection`` declares."""

    __slots__ = ()

    ssl_ptr: Any
    server_side: bool
    _version: Any
    _cipher: Any
    _alpn: Any
    _peer_der: Any
    _peer_dict: Any

    def version(self) -> str | None:
        """The negotiated protocol ("TLSv1.3", ...), None before the handshake."""
        version = self._version
        if version is UNKNOWN:
            ssl_ptr = self.ssl_ptr
            if not lib.SSL_is_init_finished(ssl_ptr):
                return None
            version = ffi.string(lib.SSL_get_version(ssl_ptr)).decode("ascii")
            if version == "unknown":
                version = None
            self._version = version
        return version

    def cipher(self) -> tuple[str | None, str | None, int] | None:
        """(name, protocol, secret bits) of the current cipher, or None."""
        result = self._cipher
        if result is UNKNOWN:
            ssl_ptr = self.ssl_ptr
            cipher = lib.SSL_get_current_cipher(ssl_ptr)
            result = None if cipher == ffi.NULL else cipher_to_tuple(cipher)
            if lib.SSL_is_init_finished(ssl_ptr):
                self._cipher = result
        return result

    def shared_ciphers(self) -> list[tuple[str | None, str | None, int]] | None:
        """The ciphers both this server and the client enable; None on the
        client side or before the handshake."""
        ssl_ptr = self.ssl_ptr
        server = lib.SSL_get_ciphers(ssl_ptr)
        client = lib.SSL_get_client_ciphers(ssl_ptr)
        if server == ffi.NULL or client == ffi.NULL:
            return None
        return [
            cipher_to_tuple(c)
            for c in cipher_list(server)
            if lib.sk_SSL_CIPHER_find(client, c) >= 0
        ]

    def compression(self) -> str | None:
        """The compression algorithm in use, or None."""
        method = lib.SSL_get_current_compression(self.ssl_ptr)
        if method == ffi.NULL:
            return None
        nid = lib.COMP_get_type(method)
        if nid == lib.NID_undef:
            return None
        return ffi.string(lib.OBJ_nid2sn(nid)).decode("ascii")

    def selected_alpn_protocol(self) -> str | None:
        """The protocol ALPN selected, or None."""
        protocol = self._alpn
        if protocol is UNKNOWN:
            ssl_ptr = self.ssl_ptr
            data = ffi.new("const unsigned char **")
            size = ffi.new("unsigned int *")
            lib.SSL_get0_alpn_selected(ssl_ptr, data, size)
            if data[0] == ffi.NULL:
                protocol = None
            else:
                protocol = ffi.unpack(ffi.cast("char *", data[0]), size[0]).decode("utf-8")
            if lib.SSL_is_init_finished(ssl_ptr):
                self._alpn = protocol
        return protocol

    def selected_npn_protocol(self) -> str | None:
        """The protocol NPN selected, or None."""
        data = ffi.new("const unsigned char **")
        size = ffi.new("unsigned int *")
        lib.pyssl_get0_npn_negotiated(self.ssl_ptr, data, size)
        if data[0] == ffi.NULL:
            return None
        return ffi.unpack(ffi.cast("char *", data[0]), size[0]).decode("utf-8")

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The peer's certificate: DER bytes, or the decoded dict (empty
        when it was not verified); None if the peer sent none."""
        if binary_form:
            der = self._peer_der
            if der is UNKNOWN:
                der = self._peer_der = self._peer_certificate(True)
            return der
        decoded = self._peer_dict
        if decoded is UNKNOWN:
            decoded = self._peer_dict = self._peer_certificate(False)
        # A new dict each time, as the stdlib's: the caller may change it.
        # Its values are tuples, strings and numbers, which cannot change.
        return decoded if decoded is None else dict(decoded)

    def _peer_certificate(self, binary_form: bool) -> Any:
        ssl_ptr = self.ssl_ptr
        if not lib.SSL_is_init_finished(ssl_ptr):
            raise ValueError("handshake not done yet")
        cert = lib.SSL_get1_peer_certificate(ssl_ptr)
        if cert == ffi.NULL:
            return None
        cert = ffi.gc(cert, lib.X509_free)
        if binary_form:
            return _x509.certificate_to_der(cert)
        if not lib.SSL_CTX_get_verify_mode(lib.SSL_get_SSL_CTX(ssl_ptr)) & lib.SSL_VERIFY_PEER:
            return {}
        return _x509.decode_certificate(cert)

    def get_verified_chain(self) -> list[Any] | None:
        """The chain OpenSSL verified, leaf first, as Certificate objects;
        None without a verified chain."""
        chain = lib.SSL_get0_verified_chain(self.ssl_ptr)
        if chain == ffi.NULL:
            return None
        return _x509.certificates_from_stack(chain)

    def get_unverified_chain(self) -> list[Any] | None:
        """The chain the peer sent, leaf first, as Certificate objects;
        None if the peer sent none."""
        ssl_ptr = self.ssl_ptr
        chain = lib.SSL_get_peer_cert_chain(ssl_ptr)
        if chain == ffi.NULL:
            return None
        certs = _x509.certificates_from_stack(chain)
        if self.server_side:
            # On a server OpenSSL leaves the client's own certificate out;
            # a client that sent none (CERT_OPTIONAL) sent no chain.
            peer = lib.SSL_get1_peer_certificate(ssl_ptr)
            if peer == ffi.NULL:
                return None
            certs.insert(0, _x509.certificate_from_ptr(peer, up_ref=False))
        return certs

    def get_channel_binding(self, cb_type: str = "tls-unique") -> bytes | None:
        """Channel binding data: RFC 5929 "tls-unique", or RFC 9266
        "tls-exporter" (TLS 1.3 only); None before the handshake."""
        if not isinstance(cb_type, str):
            got = "None" if cb_type is None else type(cb_type).__name__
            raise TypeError(f"get_channel_binding() argument 'cb_type' must be str, not {got}")
        if cb_type == "tls-exporter":
            return self._tls_exporter()
        if cb_type != "tls-unique":
            raise ValueError(f"'{cb_type}' channel binding type not implemented")
        ssl_ptr = self.ssl_ptr
        buf = ffi.new("char[]", _FINISHED_MAX)
        # tls-unique is the first Finished message of the handshake: the
        # client's in a full handshake, the server's in a resumed one.
        if bool(lib.SSL_session_reused(ssl_ptr)) != self.server_side:
            size = lib.SSL_get_peer_finished(ssl_ptr, buf, _FINISHED_MAX)
        else:
            size = lib.SSL_get_finished(ssl_ptr, buf, _FINISHED_MAX)
        if size == 0:
            return None
        return ffi.unpack(buf, size)

    def _tls_exporter(self) -> bytes | None:
        # RFC 9266: 32 bytes exported with this label and no context. It
        # is defined for TLS 1.3; TLS 1.2 connections use "tls-unique".
        ssl_ptr = self.ssl_ptr
        if not lib.SSL_is_init_finished(ssl_ptr):
            return None
        if lib.SSL_version(ssl_ptr) != lib.TLS1_3_VERSION:
            raise ValueError("'tls-exporter' channel binding is only defined for TLS 1.3")
        out = ffi.new("unsigned char[]", _TLS_EXPORTER_SIZE)
        if lib.SSL_export_keying_material(
            ssl_ptr, out, _TLS_EXPORTER_SIZE, _TLS_EXPORTER_LABEL, len(_TLS_EXPORTER_LABEL),
            ffi.NULL, 0, 0,
        ) != 1:
            raise error_from_queue("get_channel_binding")
        return ffi.buffer(out, _TLS_EXPORTER_SIZE)[:]
