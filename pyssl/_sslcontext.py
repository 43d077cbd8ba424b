"""SSLContext: the class of the ssl API, over the ``_SSLContext`` base type.

What ``Lib/ssl.py`` adds to ``_ssl._SSLContext``, on the same layer: the
getters that turn the base's ints into enums, the setters that hand values
to the base's descriptors, ``wrap_socket``/``wrap_bio`` (which make the
connection through the base's ``_wrap_socket``/``_wrap_bio``), and the
helpers taking protocol lists, server name callbacks and purposes. The
classes it wraps with, ``sslsocket_class`` and ``sslobject_class``, are
class attributes looked up at call time, so that a program may replace
them, as with the stdlib.

docs/internals.md says how this fits with the rest.
"""

from __future__ import annotations

import warnings
from typing import Any

from pyssl._arguments import idna_hostname
from pyssl._asn1 import _ASN1Object
from pyssl._context import _SSLContext
from pyssl._enums import (
    Options,
    Purpose,
    TLSVersion,
    VerifyFlags,
    VerifyMode,
    _SSLMethod,
    _TLSAlertType,
    _TLSContentType,
    _TLSMessageType,
)
from pyssl._errors import plain_error
from pyssl._lib import lib

_NEVER_CHECK_SUBJECT = lib.X509_CHECK_FLAG_NEVER_CHECK_SUBJECT


def _protocol_list(protocols: Any, what: str) -> bytearray:
    """ALPN/NPN protocol names in wire format (RFC 7301, 3.1)."""
    wire = bytearray()
    for protocol in protocols:
        name = bytes(protocol, "ascii")
        if not 0 < len(name) <= 255:
            raise plain_error(f"{what} protocols must be 1 to 255 in length")
        wire.append(len(name))
        wire += name
    return wire


# The base type's descriptors, which the setters below hand values to, as
# ssl.py does through ``super(SSLContext, SSLContext)``. Typed as Any: to a
# type checker a property has no __set__.
_BASE: Any = _SSLContext


def _enum_or_int(enum: Any, value: int) -> Any:
    try:
        return enum(value)
    except ValueError:
        return value


class SSLContext(_SSLContext):
    """An SSLContext holds various SSL-related configuration options and
    data, such as certificates and possibly a private key."""

    # The stdlib names these stores on every platform; pyssl reads the
    # platform's certificates through OpenSSL's default paths only.
    _windows_cert_stores = ("CA", "ROOT")

    sslsocket_class: Any = None  # SSLSocket, assigned in pyssl/__init__.py
    sslobject_class: Any = None  # SSLObject, assigned in pyssl/__init__.py

    def __new__(
        cls, protocol: int | None = None, *args: Any, **kwargs: Any
    ) -> SSLContext:
        if protocol is None:
            warnings.warn(
                "ssl.SSLContext() without protocol argument is deprecated.",
                category=DeprecationWarning,
                stacklevel=2,
            )
            protocol = _SSLMethod.PROTOCOL_TLS
        return _SSLContext.__new__(cls, protocol)  # type: ignore[return-value]

    def _encode_hostname(self, hostname: Any) -> str | None:
        if hostname is None:
            return None
        if isinstance(hostname, str):
            return idna_hostname(hostname)
        return hostname.decode("ascii")

    def wrap_socket(
        self,
        sock: Any,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: Any = None,
        session: Any = None,
    ) -> Any:
        """Wrap a connected or unconnected stream socket in an SSLSocket."""
        return self.sslsocket_class._create(
            sock=sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=server_hostname,
            context=self,
            session=session,
        )

    def wrap_bio(
        self,
        incoming: Any,
        outgoing: Any,
        server_side: bool = False,
        server_hostname: Any = None,
        session: Any = None,
    ) -> Any:
        """Wrap a pair of MemoryBIOs in an SSLObject."""
        return self.sslobject_class._create(
            incoming,
            outgoing,
            server_side=server_side,
            server_hostname=self._encode_hostname(server_hostname),
            session=session,
            context=self,
        )

    def set_npn_protocols(self, npn_protocols: Any) -> None:
        """Advertise (server) or choose from (client) these NPN protocols.
        NPN is deprecated: use ALPN."""
        warnings.warn(
            "ssl NPN is deprecated, use ALPN instead", DeprecationWarning, stacklevel=2
        )
        self._set_npn_protocols(_protocol_list(npn_protocols, "NPN"))

    def set_servername_callback(self, server_name_callback: Any) -> None:
        """Like ``sni_callback``, but the server name is passed as a
        U-label (``str`` decoded from IDNA)."""
        if server_name_callback is None:
            self.sni_callback = None
            return
        if not callable(server_name_callback):
            raise TypeError("not a callable object")

        def shim_cb(sslobj: Any, servername: Any, sslctx: Any) -> Any:
            return server_name_callback(
                sslobj, self._encode_hostname(servername), sslctx
            )

        self.sni_callback = shim_cb

    def set_alpn_protocols(self, alpn_protocols: Any) -> None:
        """Offer (client) or accept (server) these ALPN protocols, most
        preferred first."""
        self._set_alpn_protocols(_protocol_list(alpn_protocols, "ALPN"))

    def _load_windows_store_certs(self, storename: str, purpose: Any) -> None:
        raise NotImplementedError(
            "pyssl reads the platform's CA certificates through OpenSSL's default paths"
        )

    def load_default_certs(self, purpose: Any = Purpose.SERVER_AUTH) -> None:
        """Load the platform's default CA certificates."""
        if not isinstance(purpose, _ASN1Object):
            raise TypeError(purpose)
        self.set_default_verify_paths()

    # ---- the base's values as enums ------------------------------------------

    @property
    def minimum_version(self) -> Any:
        """The lowest ``TLSVersion`` the context accepts."""
        return TLSVersion(super().minimum_version)

    @minimum_version.setter
    def minimum_version(self, value: Any) -> None:
        # Allowing SSLv3 takes OP_NO_SSLv3 away first, before the base's
        # setter checks anything.
        if value == TLSVersion.SSLv3:
            self.options &= ~Options.OP_NO_SSLv3
        _BASE.minimum_version.__set__(self, value)

    @property
    def maximum_version(self) -> Any:
        """The highest ``TLSVersion`` the context accepts."""
        return TLSVersion(super().maximum_version)

    @maximum_version.setter
    def maximum_version(self, value: Any) -> None:
        _BASE.maximum_version.__set__(self, value)

    @property
    def options(self) -> Any:
        """The set of OpenSSL options (``Options`` flags) in effect."""
        return Options(super().options)

    @options.setter
    def options(self, value: Any) -> None:
        _BASE.options.__set__(self, value)

    @property
    def hostname_checks_common_name(self) -> bool:
        """Whether a certificate without DNS names may match by its subject
        common name."""
        return not self._host_flags & _NEVER_CHECK_SUBJECT

    @hostname_checks_common_name.setter
    def hostname_checks_common_name(self, value: Any) -> None:
        if value:
            self._host_flags &= ~_NEVER_CHECK_SUBJECT
        else:
            self._host_flags |= _NEVER_CHECK_SUBJECT

    @property
    def _msg_callback(self) -> Any:
        """The message callback (debugging), as given."""
        inner = super()._msg_callback
        if inner is not None:
            return inner.user_function
        return None

    @_msg_callback.setter
    def _msg_callback(self, callback: Any) -> None:
        if callback is None:
            _BASE._msg_callback.__set__(self, None)
            return
        if not hasattr(callback, "__call__"):  # noqa: B004 - the stdlib's test
            raise TypeError(f"{callback} is not callable.")

        def inner(
            conn: Any,
            direction: str,
            version: int,
            content_type: int,
            msg_type: int,
            data: bytes,
        ) -> Any:
            content = _enum_or_int(_TLSContentType, content_type)
            if content == _TLSContentType.HEADER:
                message = _enum_or_int(_TLSContentType, msg_type)
            elif content == _TLSContentType.ALERT:
                message = _enum_or_int(_TLSAlertType, msg_type)
            else:
                message = _enum_or_int(_TLSMessageType, msg_type)
            return callback(
                conn,
                direction,
                _enum_or_int(TLSVersion, version),
                content,
                message,
                data,
            )

        inner.user_function = callback  # type: ignore[attr-defined]
        _BASE._msg_callback.__set__(self, inner)

    @property
    def protocol(self) -> Any:
        """The protocol chosen when the context was created."""
        return _SSLMethod(super().protocol)

    @property
    def verify_flags(self) -> Any:
        """The certificate verification flags (``VerifyFlags``)."""
        return VerifyFlags(super().verify_flags)

    @verify_flags.setter
    def verify_flags(self, value: Any) -> None:
        _BASE.verify_flags.__set__(self, value)

    @property
    def verify_mode(self) -> Any:
        """Whether to verify the peer's certificate (``VerifyMode``)."""
        return _enum_or_int(VerifyMode, super().verify_mode)

    @verify_mode.setter
    def verify_mode(self, value: Any) -> None:
        _BASE.verify_mode.__set__(self, value)


SSLContext.__module__ = "pyssl"
