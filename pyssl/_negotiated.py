"""What a handshake settled: the getters of a Connection, and what they keep.

``Negotiated`` is the base of ``Connection`` (``_connection.py``) that
reports the protocol, cipher, key exchange group, signature algorithms,
ALPN/NPN protocol, certificates, session, channel bindings, exported
keying material, Finished messages, the stapled OCSP response and the
early data verdict. Once the handshake is finished the getters keep what
they looked up, in the slots declared here, until ``_forget()``; in the
middle of a handshake they ask OpenSSL each time. They make no I/O.

docs/internals.md says how this fits with the rest.
"""

from __future__ import annotations

import os
from operator import index
from typing import Any

from pyssl import _x509
from pyssl._certificate_info import decode_certificate
from pyssl._ciphers import cipher_list, cipher_to_tuple
from pyssl._errors import clear_queue, error_from_queue
from pyssl._lib import ffi, lib
from pyssl._session import SSLSession

# What a getter has not looked up since the last handshake.
UNKNOWN: Any = type("_Unknown", (), {"__repr__": lambda self: "<unknown>"})()

# A Finished message is at most the size of the largest hash (64 bytes);
# RFC 5929 tls-unique is one.
_FINISHED_MAX = 128
# A TLS 1.2 export runs the PRF on the label, both randoms (64 bytes) and
# the context with its 2-byte length; OpenSSL's PRF takes 1024 bytes.
_TLS12_LABEL_AND_CONTEXT_MAX = 1024 - 64

# The channel binding types get_channel_binding() knows: the stdlib's
# CHANNEL_BINDING_TYPES, and RFC 9266's for TLS 1.3, which pyssl adds.
BINDING_TYPES = ("tls-unique", "tls-exporter")
_TLS_EXPORTER_LABEL = b"EXPORTER-Channel-Binding"
_TLS_EXPORTER_SIZE = 32


def _bytes_argument(value: Any, method: str, name: str, text: bool = False) -> bytes:
    """``value`` (a bytes-like object, or with ``text`` an ASCII str) as bytes."""
    if text and isinstance(value, str):
        return value.encode("ascii")
    try:
        with memoryview(value) as view:
            return view.tobytes()
    except TypeError:
        kinds = "str or a bytes-like object" if text else "a bytes-like object"
        raise TypeError(
            f"{method}() argument '{name}' must be {kinds}, not {type(value).__name__}"
        ) from None


class Negotiated:
    """Getters over ``self.ssl_ptr``, and the slots where they keep what
    the last handshake settled."""

    __slots__ = (
        "_version",
        "_cipher",
        "_alpn",
        "_peer_der",
        "_peer_dict",
        "_group",
        "_client_sigalg",
        "_server_sigalg",
    )

    ssl_ptr: Any
    server_side: bool
    _context: Any
    _checked_name: str | None
    _no_name_to_check: bool

    def _forget(self) -> None:
        """Drop what the getters keep. Called when a handshake may have
        changed it: after do_handshake(), when a read or write saw one
        (renegotiation, post-handshake authentication), on a switch of
        context and on shutdown."""
        self._version = self._cipher = self._alpn = UNKNOWN
        self._peer_der = self._peer_dict = UNKNOWN
        self._group = self._client_sigalg = self._server_sigalg = UNKNOWN

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

    def group(self) -> str | None:
        """The group the key agreement used ("x25519", "X25519MLKEM768"),
        by its IANA name; None before the handshake, or when the key
        exchange used no group (TLS 1.2 with RSA key transport)."""
        group = self._group
        if group is UNKNOWN:
            ssl_ptr = self.ssl_ptr
            name = lib.pyssl_group_name(ssl_ptr)
            group = None if name == ffi.NULL else os.fsdecode(ffi.string(name))
            if lib.SSL_is_init_finished(ssl_ptr):
                self._group = group
        return group

    def client_sigalg(self) -> str | None:
        """The signature algorithm the client's certificate-based
        authentication used ("rsa_pss_rsae_sha256"); None before the
        handshake or when the client did not authenticate with a
        certificate. Needs OpenSSL 3.5: NotImplementedError before."""
        value = self._client_sigalg
        if value is UNKNOWN:
            # The client signs; a server reads the peer's signature.
            value = self._signature_name("client_sigalg", peer=self.server_side)
            if lib.SSL_is_init_finished(self.ssl_ptr):
                self._client_sigalg = value
        return value

    def server_sigalg(self) -> str | None:
        """The signature algorithm the server completed the handshake with
        ("ecdsa_secp256r1_sha256"); None before the handshake or when the
        server signed nothing (a resumed session, a PSK, and, seen from the
        client, TLS 1.2 with RSA key transport). Needs OpenSSL 3.5:
        NotImplementedError before."""
        value = self._server_sigalg
        if value is UNKNOWN:
            value = self._signature_name("server_sigalg", peer=not self.server_side)
            if lib.SSL_is_init_finished(self.ssl_ptr):
                self._server_sigalg = value
        return value

    def _signature_name(self, method: str, peer: bool) -> str | None:
        if not lib.PYSSL_HAS_SIGNATURE_NAMES:
            # OpenSSL 3.4 and older give the hash and the key type of the
            # signature, not which TLS signature scheme it was.
            raise NotImplementedError(f"{method}() requires OpenSSL 3.5 or later.")
        name = lib.pyssl_signature_name(self.ssl_ptr, peer)
        return None if name == ffi.NULL else os.fsdecode(ffi.string(name))

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
                protocol = ffi.unpack(ffi.cast("char *", data[0]), size[0]).decode(
                    "utf-8"
                )
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
        if (
            not lib.SSL_CTX_get_verify_mode(lib.SSL_get_SSL_CTX(ssl_ptr))
            & lib.SSL_VERIFY_PEER
        ):
            return {}
        return decode_certificate(cert)

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
            raise TypeError(
                f"get_channel_binding() argument 'cb_type' must be str, not {got}"
            )
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
            raise ValueError(
                "'tls-exporter' channel binding is only defined for TLS 1.3"
            )
        out = ffi.new("unsigned char[]", _TLS_EXPORTER_SIZE)
        if (
            lib.SSL_export_keying_material(
                ssl_ptr,
                out,
                _TLS_EXPORTER_SIZE,
                _TLS_EXPORTER_LABEL,
                len(_TLS_EXPORTER_LABEL),
                ffi.NULL,
                0,
                0,
            )
            != 1
        ):
            raise error_from_queue("get_channel_binding")
        return ffi.buffer(out, _TLS_EXPORTER_SIZE)[:]

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

    # ---- keying material exporters -------------------------------------

    def export_keying_material(
        self, label: str | bytes, length: int, context: bytes | None = None
    ) -> bytes:
        """``length`` bytes of keying material for ``label`` (RFC 5705 and
        RFC 8446 7.5), the same on both ends of the connection. A
        ``context`` of None means no context value, which in TLS 1.2
        differs from an empty one; in TLS 1.3 they are the same."""
        label_bytes = _bytes_argument(
            label, "export_keying_material", "label", text=True
        )
        size = index(length)
        if size <= 0:
            raise ValueError("length must be a positive number of bytes")
        if context is None:
            context_bytes, use_context = b"", 0
        else:
            context_bytes = _bytes_argument(
                context, "export_keying_material", "context"
            )
            use_context = 1
        ssl_ptr = self.ssl_ptr
        if not lib.SSL_is_init_finished(ssl_ptr):
            raise ValueError("handshake not done yet")
        if lib.SSL_version(ssl_ptr) == lib.TLS1_3_VERSION:
            # HKDF-Expand gives at most 255 hash lengths, and a TLS 1.3
            # Finished message is one hash long (RFC 8446 4.4.4).
            limit = 255 * lib.SSL_get_finished(ssl_ptr, ffi.NULL, 0)
            if size > limit:
                raise ValueError(
                    f"TLS 1.3 exports at most {limit} bytes with this cipher suite"
                )
        elif (
            len(label_bytes) + use_context * (2 + len(context_bytes))
            > _TLS12_LABEL_AND_CONTEXT_MAX
        ):
            raise ValueError(
                "label and context too long for TLS 1.2: at most "
                f"{_TLS12_LABEL_AND_CONTEXT_MAX} bytes together, 2 of them for a context's length"
            )
        out = ffi.new("unsigned char[]", size)
        clear_queue()
        ok = lib.SSL_export_keying_material(
            ssl_ptr,
            out,
            size,
            label_bytes,
            len(label_bytes),
            ffi.from_buffer("unsigned char[]", context_bytes),
            len(context_bytes),
            use_context,
        )
        if ok != 1:
            raise error_from_queue("export_keying_material")
        return ffi.buffer(out, size)[:]

    # ---- Finished messages ----------------------------------------------

    def _finished(self, getter: Any) -> bytes | None:
        buf = ffi.new("char[]", _FINISHED_MAX)
        size = getter(self.ssl_ptr, buf, _FINISHED_MAX)
        if size == 0:
            return None
        return ffi.unpack(buf, min(size, _FINISHED_MAX))

    def get_finished(self) -> bytes | None:
        """The latest Finished message this end sent, or None."""
        return self._finished(lib.SSL_get_finished)

    def get_peer_finished(self) -> bytes | None:
        """The latest Finished message the peer sent, or None."""
        return self._finished(lib.SSL_get_peer_finished)

    @property
    def early_data_accepted(self) -> bool | None:
        """Whether the server accepted the client's early data: None until
        the handshake is complete, False when none was sent."""
        ssl_ptr = self.ssl_ptr
        if not lib.SSL_is_init_finished(ssl_ptr):
            return None
        return lib.SSL_get_early_data_status(ssl_ptr) == lib.SSL_EARLY_DATA_ACCEPTED

    # ---- the session ----------------------------------------------------

    @property
    def session_reused(self) -> bool:
        """Whether the handshake resumed an earlier session."""
        return bool(lib.SSL_session_reused(self.ssl_ptr))

    # Sessions cross the API as copies. OpenSSL marks a connection's
    # session unresumable when the connection is freed without a TLS
    # shutdown (SSL_free -> ssl_clear_bad_session); a session shared with
    # the caller would be spoilt for every later connection.

    @property
    def session(self) -> Any:
        """The SSLSession of this connection, or None."""
        current = lib.SSL_get_session(self.ssl_ptr)
        if current == ffi.NULL:
            return None
        # A copy: OpenSSL marks a session unresumable when the SSL that made
        # it is freed without a TLS shutdown, which is how most connections
        # end (openssl/openssl#1550).
        session = lib.SSL_SESSION_dup(current)
        if session == ffi.NULL:
            raise error_from_queue("session")
        return SSLSession._wrap(
            ffi.gc(session, lib.SSL_SESSION_free), self._context, self._verified_name()
        )

    @session.setter
    def session(self, session: Any) -> None:
        if not isinstance(session, SSLSession):
            raise TypeError("Value is not a SSLSession.")
        if session._context._ctx_ptr != self._context._ctx_ptr:
            raise ValueError("Session refers to a different SSLContext.")
        if self.server_side:
            raise ValueError("Cannot set session for server-side SSLSocket.")
        if lib.SSL_is_init_finished(self.ssl_ptr):
            raise ValueError("Cannot set session after handshake.")
        if lib.SSL_get_verify_mode(self.ssl_ptr) & lib.SSL_VERIFY_PEER and (
            self._no_name_to_check
            or session._verified_for is None
            or (
                self._checked_name is not None
                and session._verified_for != self._checked_name
            )
        ):
            # Made without the verification this connection requires:
            # resuming it would skip that. Not offered; a full handshake.
            return
        # A copy again, so that this connection ending without a shutdown
        # cannot spoil the caller's session for the next one.
        copy = lib.SSL_SESSION_dup(session._session_ptr)
        if copy == ffi.NULL:
            raise error_from_queue("session")
        try:
            if not lib.SSL_set_session(self.ssl_ptr, copy):
                raise error_from_queue("session")
        finally:
            lib.SSL_SESSION_free(copy)  # SSL_set_session took its own reference

    def _verified_name(self) -> str | None:
        """What this client verified of the server: None when no
        certificate, else the host name it checked it against ("" for
        none). On the server side, None."""
        ssl_ptr = self.ssl_ptr
        if (
            self.server_side
            or not lib.SSL_get_verify_mode(ssl_ptr) & lib.SSL_VERIFY_PEER
            or lib.SSL_get_verify_result(ssl_ptr) != lib.X509_V_OK
        ):
            return None
        peer = lib.SSL_get1_peer_certificate(ssl_ptr)
        if peer == ffi.NULL:
            return None  # a session with a pre-shared key
        lib.X509_free(peer)
        return self._checked_name or ""
