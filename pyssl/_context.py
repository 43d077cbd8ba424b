"""_SSLContext: one SSL_CTX and its settings, the stdlib's ``_ssl._SSLContext``.

This is the base type that ``SSLContext`` (``_sslcontext.py``) subclasses,
as ``Lib/ssl.py``'s ``SSLContext`` subclasses the C type: its getters give
plain ints where ``SSLContext`` gives enums, and it makes connections with
``_wrap_socket``/``_wrap_bio``. Code written against the stdlib reaches
these descriptors past the subclass
(``super(ssl.SSLContext, ssl.SSLContext).verify_mode.__set__(...)``), so
each one lives on the layer the stdlib puts it on.

docs/internals.md says how this fits with the rest.
"""

from __future__ import annotations

import _socket
import os
import sys
import warnings
from operator import index
from typing import Any

from pyssl._arguments import (
    as_c_long,
    as_clinic_int,
    as_clinic_str,
    as_unsigned_long_long,
    type_name,
)
from pyssl._buffers import readable_buffer
from pyssl._callbacks import ContextCallbacks, register
from pyssl._ciphers import cipher_list, cipher_to_dict
from pyssl._connection import Connection
from pyssl._context_certificates import CertificateSettings
from pyssl._enums import (
    PROTO_MAXIMUM_SUPPORTED,
    PROTO_MINIMUM_SUPPORTED,
    Options,
    TLSVersion,
    VerifyMode,
    _SSLMethod,
)
from pyssl._errors import clear_queue, error_from_queue, own_error, plain_error
from pyssl._lib import HAS_SSLv3, HAS_TLSv1, HAS_TLSv1_1, HAS_TLSv1_2, ffi, lib
from pyssl._memory_bio import MemoryBIO
from pyssl._socket_connection import SocketConnection

_UINT32_MAX = 0xFFFFFFFF

# The stdlib's default cipher string (its --with-ssl-default-suites=python).
DEFAULT_CIPHERS = "@SECLEVEL=2:ECDH+AESGCM:ECDH+CHACHA20:ECDH+AES:DHE+AES:!aNULL:!eNULL:!aDSS:!SHA1:!AESCCM"

# What a new context starts with, worked out once: a context is made per
# request by some clients.
_DEFAULT_CIPHERS_ASCII = DEFAULT_CIPHERS.encode("ascii")
_DEFAULT_OPTIONS = int(
    Options.OP_ALL
    | Options.OP_NO_SSLv2
    | Options.OP_NO_SSLv3
    | Options.OP_NO_COMPRESSION
    | Options.OP_CIPHER_SERVER_PREFERENCE
    | Options.OP_SINGLE_DH_USE
    | Options.OP_SINGLE_ECDH_USE
)
# The protocols that start at TLS 1.2, and the side each one fixes.
_FLEXIBLE_PROTOCOLS = frozenset(
    int(p)
    for p in (
        _SSLMethod.PROTOCOL_TLS,
        _SSLMethod.PROTOCOL_TLS_CLIENT,
        _SSLMethod.PROTOCOL_TLS_SERVER,
    )
)
_ONLY_SERVER_SIDE = {
    int(_SSLMethod.PROTOCOL_TLS_SERVER): True,
    int(_SSLMethod.PROTOCOL_TLS_CLIENT): False,
}

# The option bits that pin protocol versions; setting them is deprecated
# in favour of minimum_version/maximum_version.
_OP_NO_VERSIONS = (
    Options.OP_NO_SSLv2
    | Options.OP_NO_SSLv3
    | Options.OP_NO_TLSv1
    | Options.OP_NO_TLSv1_1
    | Options.OP_NO_TLSv1_2
    | Options.OP_NO_TLSv1_3
)

_DEPRECATED_VERSIONS: dict[int, str] = {
    TLSVersion.SSLv3: "ssl.TLSVersion.SSLv3 is deprecated",
    TLSVersion.TLSv1: "ssl.TLSVersion.TLSv1 is deprecated",
    TLSVersion.TLSv1_1: "ssl.TLSVersion.TLSv1_1 is deprecated",
}

_FIXED_VERSION_PROTOCOLS = {
    _SSLMethod.PROTOCOL_TLSv1: lib.TLS1_VERSION,
    _SSLMethod.PROTOCOL_TLSv1_1: lib.TLS1_1_VERSION,
    _SSLMethod.PROTOCOL_TLSv1_2: lib.TLS1_2_VERSION,
}


# What MINIMUM_SUPPORTED means as a maximum and MAXIMUM_SUPPORTED as a
# minimum: OpenSSL has no marker for those, so the stdlib picks the oldest
# (newest) version this OpenSSL build was compiled with.
_MINIMUM_AVAILABLE = next(
    version
    for version, available in (
        (lib.SSL3_VERSION, HAS_SSLv3),
        (lib.TLS1_VERSION, HAS_TLSv1),
        (lib.TLS1_1_VERSION, HAS_TLSv1_1),
        (lib.TLS1_2_VERSION, HAS_TLSv1_2),
        (lib.TLS1_3_VERSION, True),
    )
    if available
)
_MAXIMUM_AVAILABLE = lib.TLS1_3_VERSION


def _method_for(protocol: int) -> Any:
    # The deprecation warnings name the line that created the context:
    # stacklevel 4 is the caller of SSLContext.__new__, which calls
    # _SSLContext.__new__, which calls this.
    if protocol == _SSLMethod.PROTOCOL_TLS_CLIENT:
        return lib.TLS_client_method()
    if protocol == _SSLMethod.PROTOCOL_TLS_SERVER:
        return lib.TLS_server_method()
    if protocol == _SSLMethod.PROTOCOL_TLS:
        warnings.warn(
            "ssl.PROTOCOL_TLS is deprecated", DeprecationWarning, stacklevel=4
        )
        return lib.TLS_method()
    if protocol in _FIXED_VERSION_PROTOCOLS:
        method = lib.pyssl_fixed_version_method(_FIXED_VERSION_PROTOCOLS[protocol])
        if method != ffi.NULL:
            name = _SSLMethod(protocol).name
            warnings.warn(f"ssl.{name} is deprecated", DeprecationWarning, stacklevel=4)
            return method
    raise ValueError(f"invalid or unsupported protocol version {protocol}")


def _options_argument(value: Any) -> int:
    """The new ``options``: Python 3.12 made the setter take an unsigned
    64-bit int; before, it took a C long, negative numbers included."""
    if sys.version_info >= (3, 12):
        return as_unsigned_long_long(value)
    return as_c_long(value) & 0xFFFFFFFFFFFFFFFF


def _protocols_bytes(protocols: Any) -> bytes:
    """The wire-format list ``_set_alpn_protocols`` and
    ``_set_npn_protocols`` take, as bytes."""
    src = readable_buffer(protocols)
    try:
        if len(src) > 0xFFFFFFFF:
            raise OverflowError("protocols longer than 4294967295 bytes")
        return ffi.buffer(src)[:]
    finally:
        ffi.release(src)


class _SSLContext(CertificateSettings, ContextCallbacks):
    """One SSL_CTX: the settings its connections share."""

    # The side every connection of a PROTOCOL_TLS_SERVER (True) or
    # PROTOCOL_TLS_CLIENT (False) context takes; None: either.
    _only_server_side: bool | None
    # The wire-format lists OpenSSL reads at handshake time: (C array, the
    # pyssl_protocols pointing at it), or () before any; and every list the
    # context has had (see _protocol_list).
    _alpn_protocols: tuple[Any, ...]
    _npn_protocols: tuple[Any, ...]
    _protocol_lists: dict[bytes, tuple[Any, Any]]

    # Set in __new__, as in the stdlib: subclasses may define __init__
    # with whatever signature they like.
    def __new__(cls, protocol: int) -> _SSLContext:
        protocol = as_clinic_int(protocol)
        self = super().__new__(cls)
        method = _method_for(protocol)
        ctx_ptr = lib.SSL_CTX_new(method)
        if ctx_ptr == ffi.NULL:
            raise error_from_queue("SSLContext")
        self._ctx_ptr = ffi.gc(ctx_ptr, lib.SSL_CTX_free)
        self._protocol = _SSLMethod(protocol)
        self._only_server_side = _ONLY_SERVER_SIDE.get(protocol)
        self._key = register(self)
        self._alpn_protocols = ()
        self._npn_protocols = ()
        self._protocol_lists = {}
        self._post_handshake_auth = False
        self._configure_defaults()
        return self

    def _configure_defaults(self) -> None:
        ctx_ptr = self._ctx_ptr
        if self._protocol == _SSLMethod.PROTOCOL_TLS_CLIENT:
            self._check_hostname = True
            self._set_verify_mode(VerifyMode.CERT_REQUIRED)
        else:
            self._check_hostname = False
            self._set_verify_mode(VerifyMode.CERT_NONE)
        lib.SSL_CTX_set_options(ctx_ptr, _DEFAULT_OPTIONS)
        if lib.SSL_CTX_set_cipher_list(ctx_ptr, _DEFAULT_CIPHERS_ASCII) != 1:
            raise plain_error("No cipher can be selected.")
        if self._protocol in _FLEXIBLE_PROTOCOLS:
            lib.SSL_CTX_set_min_proto_version(ctx_ptr, lib.TLS1_2_VERSION)
        # Idle connections give their read/write buffers back.
        lib.SSL_CTX_set_mode(ctx_ptr, lib.SSL_MODE_RELEASE_BUFFERS)
        param = lib.SSL_CTX_get0_param(ctx_ptr)
        # Better chain building with cross-signed intermediates.
        lib.X509_VERIFY_PARAM_set_flags(param, lib.X509_V_FLAG_TRUSTED_FIRST)
        lib.X509_VERIFY_PARAM_set_hostflags(
            param, lib.X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS
        )
        # Post-handshake auth is switched on per connection (Connection).
        lib.SSL_CTX_set_post_handshake_auth(ctx_ptr, 0)

    # ---- protocol, options, versions -------------------------------------

    @property
    def protocol(self) -> int:
        """The protocol chosen when the context was created."""
        return int(self._protocol)

    @property
    def options(self) -> int:
        """The OpenSSL options in effect."""
        return lib.SSL_CTX_get_options(self._ctx_ptr)

    @options.setter
    def options(self, value: int) -> None:
        new = _options_argument(value)
        current = lib.SSL_CTX_get_options(self._ctx_ptr)
        to_clear = current & ~new
        to_set = ~current & new
        if to_set & _OP_NO_VERSIONS:
            # stacklevel 3: the caller of SSLContext.options' setter.
            warnings.warn(
                "ssl.OP_NO_SSL*/ssl.OP_NO_TLS* options are deprecated",
                DeprecationWarning,
                stacklevel=3,
            )
        if to_clear:
            lib.SSL_CTX_clear_options(self._ctx_ptr, to_clear)
        if to_set:
            lib.SSL_CTX_set_options(self._ctx_ptr, to_set)

    def _check_version_change(self, value: Any) -> int:
        """``value`` as a protocol version number, checked as the stdlib
        checks it, with the deprecation warning for SSLv3 to TLSv1.1."""
        version = as_c_long(value)
        if version > 2**31 - 1:
            raise OverflowError("Option is too long")
        if self._protocol not in (
            _SSLMethod.PROTOCOL_TLS,
            _SSLMethod.PROTOCOL_TLS_CLIENT,
            _SSLMethod.PROTOCOL_TLS_SERVER,
        ):
            raise ValueError(
                "The context's protocol doesn't support modification of "
                "highest and lowest version."
            )
        if version in _DEPRECATED_VERSIONS:
            # stacklevel 4: the caller of SSLContext's setter.
            warnings.warn(
                _DEPRECATED_VERSIONS[version], DeprecationWarning, stacklevel=4
            )
        elif version not in (
            PROTO_MINIMUM_SUPPORTED,
            PROTO_MAXIMUM_SUPPORTED,
            TLSVersion.TLSv1_2,
            TLSVersion.TLSv1_3,
        ):
            # Printed as the C int it is (-3 is 0xfffffffd).
            raise ValueError(f"Unsupported TLS/SSL version 0x{version & 0xFFFFFFFF:x}")
        return version

    @property
    def minimum_version(self) -> int:
        """The lowest protocol version the context accepts."""
        return (
            lib.SSL_CTX_get_min_proto_version(self._ctx_ptr) or PROTO_MINIMUM_SUPPORTED
        )

    @minimum_version.setter
    def minimum_version(self, value: Any) -> None:
        version = self._check_version_change(value)
        if version == PROTO_MINIMUM_SUPPORTED:
            version = 0
        elif version == PROTO_MAXIMUM_SUPPORTED:
            version = _MAXIMUM_AVAILABLE
        if not lib.SSL_CTX_set_min_proto_version(self._ctx_ptr, version):
            clear_queue()
            raise ValueError(f"Unsupported protocol version 0x{version:x}")

    @property
    def maximum_version(self) -> int:
        """The highest protocol version the context accepts."""
        return (
            lib.SSL_CTX_get_max_proto_version(self._ctx_ptr) or PROTO_MAXIMUM_SUPPORTED
        )

    @maximum_version.setter
    def maximum_version(self, value: Any) -> None:
        version = self._check_version_change(value)
        if version == PROTO_MAXIMUM_SUPPORTED:
            version = 0
        elif version == PROTO_MINIMUM_SUPPORTED:
            version = _MINIMUM_AVAILABLE
        if not lib.SSL_CTX_set_max_proto_version(self._ctx_ptr, version):
            clear_queue()
            raise ValueError(f"Unsupported protocol version 0x{version:x}")

    @property
    def security_level(self) -> int:
        """The OpenSSL security level in effect (read-only)."""
        return lib.SSL_CTX_get_security_level(self._ctx_ptr)

    # ---- ciphers and protocols -------------------------------------------

    def set_ciphers(self, ciphers: str, /) -> None:
        """Set the TLS 1.2-and-older cipher list (OpenSSL cipher string)."""
        if not isinstance(ciphers, str):
            raise TypeError(
                f"set_ciphers() argument must be str, not {type_name(ciphers)}"
            )
        if "\0" in ciphers:
            raise ValueError("embedded null character")
        # UTF-8 as the stdlib's "s" converter encodes it; a name OpenSSL
        # does not know then matches no cipher.
        if not lib.SSL_CTX_set_cipher_list(self._ctx_ptr, ciphers.encode("utf-8")):
            raise plain_error("No cipher can be selected.")

    def set_ciphersuites(self, ciphersuites: str, /) -> None:
        """Set the TLS 1.3 cipher suites allowed for connections made with
        this context: a colon-separated list of TLS 1.3 cipher names, in
        order of preference. Names OpenSSL does not know are skipped; if
        none of them can be used, SSLError is raised. An empty string
        allows none: for a context limited to TLS 1.2 and older."""
        suites = as_clinic_str(ciphersuites, "set_ciphersuites")
        if not lib.SSL_CTX_set_ciphersuites(self._ctx_ptr, suites):
            raise own_error("No cipher suite can be selected.", "set_ciphersuites")

    def get_ciphers(self) -> list[dict[str, Any]]:
        """The enabled ciphers, in priority order, as dicts."""
        ssl_ptr = lib.SSL_new(self._ctx_ptr)
        if ssl_ptr == ffi.NULL:
            raise error_from_queue("get_ciphers")
        try:
            return [
                cipher_to_dict(c) for c in cipher_list(lib.SSL_get_ciphers(ssl_ptr))
            ]
        finally:
            lib.SSL_free(ssl_ptr)

    def set_ecdh_curve(self, name: Any) -> None:
        """Set the curve for ECDH key exchange, by OpenSSL short name."""
        # Taken as a file system path (str, bytes or path-like), as the
        # stdlib takes it.
        name_bytes = os.fsencode(os.fspath(name))
        if b"\0" in name_bytes:
            raise ValueError("embedded null byte")
        nid = lib.OBJ_sn2nid(name_bytes)
        if nid == lib.NID_undef:
            raise ValueError(f"unknown elliptic curve name {name!r}")
        nids = ffi.new("int[1]", [nid])
        if not lib.SSL_CTX_set1_groups(self._ctx_ptr, nids, 1):
            raise error_from_queue("set_ecdh_curve")

    # ---- key exchange groups and signature algorithms ---------------------

    def get_groups(self, *, include_aliases: bool = False) -> list[str]:
        """The groups OpenSSL implements for key agreement, by their IANA
        names, as far as the context's minimum_version and maximum_version
        allow them; with ``include_aliases``, other names of theirs too
        (the curve names older OpenSSL releases used). Needs OpenSSL 3.5:
        NotImplementedError before."""
        if not lib.PYSSL_HAS_IMPLEMENTED_GROUPS:
            raise NotImplementedError(
                "Getting implemented groups requires OpenSSL 3.5 or later."
            )
        clear_queue()
        joined = lib.pyssl_implemented_groups(self._ctx_ptr, bool(include_aliases))
        if joined == ffi.NULL:
            raise error_from_queue("get_groups")
        try:
            names = os.fsdecode(ffi.string(joined))
        finally:
            lib.OPENSSL_free(joined)
        return names.split(":") if names else []

    def set_groups(self, grouplist: str, /) -> None:
        """Set the groups allowed for key agreement on connections made with
        this context, as a colon-separated OpenSSL group list ("X25519:P-256",
        most preferred first). A name OpenSSL does not know raises SSLError."""
        groups = as_clinic_str(grouplist, "set_groups")
        if not lib.SSL_CTX_set1_groups_list(self._ctx_ptr, groups):
            raise own_error("unrecognized group", "set_groups")

    def set_client_sigalgs(self, sigalgs: str, /) -> None:
        """Set the signature algorithms allowed for certificate-based client
        authentication, as a colon-separated OpenSSL list
        ("ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256", or "ECDSA+SHA256"
        forms). One OpenSSL does not know raises SSLError."""
        names = as_clinic_str(sigalgs, "set_client_sigalgs")
        if not lib.SSL_CTX_set1_client_sigalgs_list(self._ctx_ptr, names):
            raise own_error("unrecognized signature algorithm", "set_client_sigalgs")

    def set_server_sigalgs(self, sigalgs: str, /) -> None:
        """Set the signature algorithms allowed for the server's signature
        in the handshake, in the form set_client_sigalgs() takes. One
        OpenSSL does not know raises SSLError."""
        names = as_clinic_str(sigalgs, "set_server_sigalgs")
        if not lib.SSL_CTX_set1_sigalgs_list(self._ctx_ptr, names):
            raise own_error("unrecognized signature algorithm", "set_server_sigalgs")

    def _protocol_list(self, protos: Any) -> tuple[Any, Any]:
        """(C array, pyssl_protocols) for the wire-format list ``protos``,
        made once per distinct list and kept as long as the context.
        OpenSSL's ALPN and NPN callbacks read the list at handshake time,
        in other threads and without the GIL: a list replaced may still be
        being read there, so none is freed before the context (lists are
        short, and a context sees few)."""
        wire = _protocols_bytes(protos)
        kept = self._protocol_lists.get(wire)
        if kept is None:
            data = ffi.new("unsigned char[]", wire)
            kept = (data, ffi.new("pyssl_protocols *", (data, len(wire))))
            self._protocol_lists[wire] = kept
        return kept

    def _set_alpn_protocols(self, protos: Any, /) -> None:
        """Offer (client) or accept (server) the ALPN protocols of
        ``protos``, in wire format (RFC 7301, 3.1), most preferred first."""
        data, protocols = self._protocol_list(protos)
        # SSL_CTX_set_alpn_protos copies the list and returns 0 on success.
        if lib.SSL_CTX_set_alpn_protos(self._ctx_ptr, data, protocols.len):
            raise MemoryError()
        # The server-side select callback reads the list at handshake time.
        lib.pyssl_set_alpn_select(self._ctx_ptr, protocols)
        self._alpn_protocols = (data, protocols)

    def _set_npn_protocols(self, protos: Any, /) -> None:
        """Advertise (server) or choose from (client) the NPN protocols of
        ``protos``, in wire format."""
        data, protocols = self._protocol_list(protos)
        if not lib.pyssl_set_npn_protocols(self._ctx_ptr, protocols):
            raise NotImplementedError(
                "The NPN extension is not supported by this OpenSSL"
            )
        self._npn_protocols = (data, protocols)

    # ---- statistics and sessions -----------------------------------------

    def session_stats(self) -> dict[str, int]:
        """OpenSSL's session statistics for this context."""
        ctx_ptr = self._ctx_ptr
        return {
            name: getattr(lib, f"SSL_CTX_sess_{name}")(ctx_ptr)
            for name in (
                "number",
                "connect",
                "connect_good",
                "connect_renegotiate",
                "accept",
                "accept_good",
                "accept_renegotiate",
                "hits",
                "misses",
                "timeouts",
                "cache_full",
            )
        }

    @property
    def num_tickets(self) -> int:
        """How many TLS 1.3 session tickets a server sends after the handshake."""
        return lib.SSL_CTX_get_num_tickets(self._ctx_ptr)

    @num_tickets.setter
    def num_tickets(self, value: Any) -> None:
        count = as_c_long(value)
        if count < 0:
            raise ValueError("value must be non-negative")
        if self._protocol != _SSLMethod.PROTOCOL_TLS_SERVER:
            raise ValueError("SSLContext is not a server context.")
        if lib.SSL_CTX_set_num_tickets(self._ctx_ptr, count) != 1:
            raise ValueError("failed to set num tickets.")

    @property
    def max_early_data(self) -> int:
        """How many bytes of early data this server accepts per connection,
        announced in the session tickets it issues; 0 (the default) accepts
        none."""
        return lib.SSL_CTX_get_max_early_data(self._ctx_ptr)

    @max_early_data.setter
    def max_early_data(self, value: Any) -> None:
        size = index(value)
        if size < 0:
            raise ValueError("value must be non-negative")
        if size > _UINT32_MAX:
            raise OverflowError(f"max_early_data must be at most {_UINT32_MAX}")
        if self._protocol == _SSLMethod.PROTOCOL_TLS_CLIENT:
            raise ValueError("SSLContext is not a server context.")
        ctx_ptr = self._ctx_ptr
        lib.SSL_CTX_set_max_early_data(ctx_ptr, size)
        # OpenSSL takes at most recv_max_early_data bytes (16 KiB unless
        # raised) whatever the tickets announced, and aborts connections
        # that send more. It only grows, so that tickets issued under an
        # earlier, larger setting stay usable.
        if size > lib.SSL_CTX_get_recv_max_early_data(ctx_ptr):
            lib.SSL_CTX_set_recv_max_early_data(ctx_ptr, size)

    # ---- connections -----------------------------------------------------

    def _wrap_socket(
        self,
        sock: Any,
        server_side: bool,
        server_hostname: Any = None,
        *,
        owner: Any = None,
        session: Any = None,
    ) -> SocketConnection:
        """A connection over ``sock``'s descriptor (``SSLSocket._sslobj``).
        ``owner`` is what callbacks are given for it (the SSLSocket)."""
        if not isinstance(sock, _socket.socket):
            raise TypeError(
                f"_wrap_socket() argument 'sock' must be _socket.socket, not {type(sock).__name__}"
            )
        return SocketConnection(
            self, bool(server_side), server_hostname, sock, owner, session
        )

    def _wrap_bio(
        self,
        incoming: Any,
        outgoing: Any,
        server_side: bool,
        server_hostname: Any = None,
        *,
        owner: Any = None,
        session: Any = None,
    ) -> Connection:
        """A connection over two MemoryBIOs (``SSLObject._sslobj``)."""
        for name, bio in (("incoming", incoming), ("outgoing", outgoing)):
            if not isinstance(bio, MemoryBIO):
                raise TypeError(
                    f"_wrap_bio() argument '{name}' must be MemoryBIO, not {type(bio).__name__}"
                )
        connection = Connection(
            self, bool(server_side), server_hostname, owner, session
        )
        lib.pyssl_use_bios(connection.ssl_ptr, incoming.bio_ptr, outgoing.bio_ptr)
        return connection
