"""SSLSession: a TLS session a client can resume."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyssl._lib import ffi, lib

if TYPE_CHECKING:
    from pyssl._context import _SSLContext


class SSLSession:
    """A TLS session, from ``SSLSocket.session``, to resume a connection
    made with the same SSLContext."""

    __slots__ = ("_session_ptr", "_context", "_verified_for")
    _session_ptr: Any  # SSL_SESSION *, owned (ffi.gc)
    _context: _SSLContext
    # What the client that made it verified: None when it verified no
    # certificate, the host name it checked the certificate against, or ""
    # when it checked none. A connection that requires more is not offered
    # the session (Negotiated.session): resuming would skip the check.
    _verified_for: str | None

    def __new__(cls, *args: Any, **kwargs: Any) -> SSLSession:
        raise TypeError("cannot create 'pyssl.SSLSession' instances")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        raise TypeError("type 'pyssl.SSLSession' is not an acceptable base type")

    @classmethod
    def _wrap(
        cls, session_ptr: Any, context: _SSLContext, verified_for: str | None = None
    ) -> SSLSession:
        self = object.__new__(cls)
        self._session_ptr = session_ptr
        self._context = context
        self._verified_for = verified_for
        return self

    @property
    def id(self) -> bytes:
        """The session id."""
        size = ffi.new("unsigned int *")
        data = lib.SSL_SESSION_get_id(self._session_ptr, size)
        return ffi.unpack(ffi.cast("char *", data), size[0])

    @property
    def time(self) -> int:
        """When the session was established, in seconds since the Epoch."""
        return lib.SSL_SESSION_get_time(self._session_ptr)

    @property
    def timeout(self) -> int:
        """The session's lifetime, in seconds."""
        return lib.SSL_SESSION_get_timeout(self._session_ptr)

    @property
    def ticket_lifetime_hint(self) -> int:
        """The ticket lifetime hint the server gave, in seconds."""
        return lib.SSL_SESSION_get_ticket_lifetime_hint(self._session_ptr)

    @property
    def has_ticket(self) -> bool:
        """Whether the session carries a session ticket."""
        return bool(lib.SSL_SESSION_has_ticket(self._session_ptr))

    @property
    def max_early_data(self) -> int:
        """How many bytes of TLS 1.3 early data the server allows on a
        connection resuming this session; 0 when it allows none (a pyssl
        addition)."""
        return lib.SSL_SESSION_get_max_early_data(self._session_ptr)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SSLSession):
            return NotImplemented
        return self is other or self.id == other.id

    __hash__ = None  # type: ignore[assignment]


SSLSession.__module__ = "pyssl"
