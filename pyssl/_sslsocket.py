"""SSLSocket: a socket.socket that speaks TLS.

Its TLS layer is a SocketConnection (``_socket_connection``), which does
the I/O and the waiting; this is the socket API around it, as ssl.py's
SSLSocket is around ``_ssl._SSLSocket``.

docs/internals.md says how this fits with the rest.
"""

from __future__ import annotations

import _socket
import socket as _socket_module
from typing import TYPE_CHECKING, Any

from pyssl._errors import SSL_ERROR_EOF, SSLError
from pyssl._lib import lib
from pyssl._negotiated import BINDING_TYPES
from pyssl._socket_connection import _GiveupOnSSLSendfile, sendfile_zerocopy
from pyssl._sslsocket_lifecycle import (
    UNSHARED_CONNECTION,
    UNSHARED_SSL_PTR,
    check_wrap_arguments,
    not_connected,
    refcount,
)
from pyssl._x509 import chain_to_der

if TYPE_CHECKING:
    from pyssl._sslcontext import SSLContext


class SSLSocket(_socket_module.socket):
    """This class implements a subtype of socket.socket that wraps the
    underlying OS socket in an SSL context when necessary, and provides
    read and write methods over that channel."""

    # Set by _create (there is no public constructor).
    _context: SSLContext
    _session: Any
    # The SocketConnection; None before connect(), after unwrap() or close().
    _sslobj: Any
    _connected: bool
    server_side: bool
    server_hostname: str | None
    do_handshake_on_connect: bool
    suppress_ragged_eofs: bool

    if TYPE_CHECKING:
        # socket.socket's, which its type stubs leave out.
        def _sendfile_use_send(
            self, file: Any, offset: int = 0, count: int | None = None
        ) -> int: ...

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            f"{self.__class__.__name__} does not have a public constructor. "
            "Instances are returned by SSLContext.wrap_socket()."
        )

    @classmethod
    def _create(
        cls,
        sock: Any,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: Any = None,
        context: Any = None,
        session: Any = None,
    ) -> SSLSocket:
        check_wrap_arguments(sock, server_side, server_hostname, session, context)
        timeout = sock.gettimeout()
        kwargs = dict(
            family=sock.family, type=sock.type, proto=sock.proto, fileno=sock.fileno()
        )
        self = cls.__new__(cls, **kwargs)
        super(SSLSocket, self).__init__(**kwargs)
        # The descriptor now belongs to this SSLSocket.
        sock.detach()
        try:
            self._context = context
            self._session = session
            self._sslobj = None
            self.server_side = server_side
            self.server_hostname = context._encode_hostname(server_hostname)
            self.do_handshake_on_connect = do_handshake_on_connect
            self.suppress_ragged_eofs = suppress_ragged_eofs
            try:
                self.getpeername()
            except OSError as exc:
                self._connected = self._not_connected(exc)
            else:
                self._connected = True
            self.settimeout(timeout)
            if self._connected:
                self._sslobj = self._new_connection()
                if do_handshake_on_connect:
                    if self.gettimeout() == 0.0:
                        raise ValueError(
                            "do_handshake_on_connect should not be specified for non-blocking sockets"
                        )
                    self.do_handshake()
        except BaseException:
            try:
                self.close()
            except OSError:
                pass
            raise
        return self

    def _not_connected(self, exc: OSError) -> bool:
        """getpeername() failed with ``exc``: False if the socket is simply
        not connected yet, else raise."""
        return not_connected(self, exc)

    def _new_connection(self) -> Any:
        return self._context._wrap_socket(
            self,
            self.server_side,
            self.server_hostname,
            owner=self,
            session=self._session,
        )

    # ---- attributes --------------------------------------------------------

    @property
    def context(self) -> Any:
        """The SSLContext this socket is tied to; assignable (SNI)."""
        return self._context

    @context.setter
    def context(self, context: Any) -> None:
        # The connection checks the type: store only what it accepted.
        self._sslobj.context = context
        self._context = context

    @property
    def session(self) -> Any:
        """The SSLSession of this connection, or None."""
        if self._sslobj is not None:
            return self._sslobj.session
        return None

    @session.setter
    def session(self, session: Any) -> None:
        self._session = session
        if self._sslobj is not None:
            self._sslobj.session = session

    @property
    def session_reused(self) -> bool | None:
        """Whether the session was reused (None without a connection)."""
        if self._sslobj is not None:
            return self._sslobj.session_reused
        return None

    def dup(self) -> Any:
        raise NotImplementedError(f"Can't dup() {self.__class__.__name__} instances")

    def _checkClosed(self, msg: Any = None) -> None:
        # Kept for the stdlib's subclasses, which may override it.
        pass

    def _check_connected(self) -> None:
        if not self._connected:
            # Raises ENOTCONN if the socket really is not connected; it may
            # be connected without _connected set, after a non-blocking
            # connect() that returned EINPROGRESS.
            self.getpeername()

    # ---- TLS I/O -------------------------------------------------------------

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        """Read up to ``len`` bytes (into ``buffer`` if given, returning the
        count). Returns b''/0 at EOF."""
        self._checkClosed()
        sslobj = self._sslobj
        if sslobj is None:
            raise ValueError("Read on closed or unwrapped SSL socket.")
        try:
            return sslobj.read(len, buffer)
        except SSLError as exc:
            if self._is_suppressed_eof(exc):
                return b"" if buffer is None else 0
            raise

    def _is_suppressed_eof(self, exc: SSLError) -> bool:
        """Whether a read that raised ``exc`` returns end of stream instead:
        the peer closed without close_notify and suppress_ragged_eofs is set."""
        return exc.args[0] == SSL_ERROR_EOF and self.suppress_ragged_eofs

    def write(self, data: Any) -> int:
        """Write ``data``; returns the number of bytes written."""
        self._checkClosed()
        sslobj = self._sslobj
        if sslobj is None:
            raise ValueError("Write on closed or unwrapped SSL socket.")
        return sslobj.write(data)

    def send(self, data: Any, flags: int = 0) -> int:
        self._checkClosed()
        sslobj = self._sslobj
        if sslobj is None:
            return super().send(data, flags)
        if flags != 0:
            raise ValueError(
                f"non-zero flags not allowed in calls to send() on {self.__class__}"
            )
        return sslobj.write(data)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._checkClosed()
        sslobj = self._sslobj
        if sslobj is None:
            return super().sendall(data, flags)
        if flags != 0:
            raise ValueError(
                f"non-zero flags not allowed in calls to sendall() on {self.__class__}"
            )
        sent = 0
        if type(data) is bytes and data:
            # A blocking SSL_write writes all or fails: one call, and no
            # view of the bytes to make. (Nothing to send is no write: an
            # empty SSL_write fails.)
            sent = sslobj.write(data)
            if sent == len(data):
                return None
        with memoryview(data) as view, view.cast("B") as byte_view:
            total = len(byte_view)
            while sent < total:
                sent += sslobj.write(byte_view[sent:])
        return None

    def sendto(self, data: Any, flags_or_addr: Any, addr: Any = None) -> int:
        self._checkClosed()
        if self._sslobj is not None:
            raise ValueError(f"sendto not allowed on instances of {self.__class__}")
        if addr is None:
            return super().sendto(data, flags_or_addr)
        return super().sendto(data, flags_or_addr, addr)

    def sendmsg(self, *args: Any, **kwargs: Any) -> int:
        # Refused even unwrapped, so that nothing goes out in clear text.
        raise NotImplementedError(
            f"sendmsg not allowed on instances of {self.__class__}"
        )

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """Send a file, returning the number of bytes sent: with
        SSL_sendfile(), which copies nothing through user space, when the
        kernel does the encryption (OP_ENABLE_KTLS and kTLS in use), else
        with send(); os.sendfile() when unwrapped."""
        if self._sslobj is None:
            return super().sendfile(file, offset, count)
        try:
            return self._sendfile_use_ssl_sendfile(file, offset, count)
        except _GiveupOnSSLSendfile:
            return self._sendfile_use_send(file, offset, count)

    def _sendfile_use_ssl_sendfile(
        self, file: Any, offset: int = 0, count: int | None = None
    ) -> int:
        sslobj = self._sslobj
        if not sslobj.uses_ktls_for_send():
            raise _GiveupOnSSLSendfile("Kernel TLS is not enabled for the socket")
        return sendfile_zerocopy(self, sslobj.sendfile, file, offset, count)

    # recv() and recv_into() call the connection's read() themselves, not
    # read(): one Python frame fewer per call, as many as the stdlib's.

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        self._checkClosed()
        sslobj = self._sslobj
        if sslobj is None:
            return super().recv(buflen, flags)
        if flags != 0:
            raise ValueError(
                f"non-zero flags not allowed in calls to recv() on {self.__class__}"
            )
        try:
            return sslobj.read(buflen)
        except SSLError as exc:
            if self._is_suppressed_eof(exc):
                return b""
            raise

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        self._checkClosed()
        sslobj = self._sslobj
        if buffer is not None and flags == 0 and sslobj is not None:
            # The usual call, in fewer steps: read() takes a size of 0 as
            # "the whole buffer", which is what nbytes=None means here.
            try:
                return sslobj.read(0 if nbytes is None else nbytes, buffer)
            except SSLError as exc:
                if self._is_suppressed_eof(exc):
                    return 0
                raise
        if nbytes is None:
            if buffer is not None:
                with memoryview(buffer) as view:
                    nbytes = view.nbytes
                nbytes = nbytes or 1024
            else:
                nbytes = 1024
        if self._sslobj is None:
            return super().recv_into(buffer, nbytes, flags)
        if flags != 0:
            raise ValueError(
                f"non-zero flags not allowed in calls to recv_into() on {self.__class__}"
            )
        return self.read(nbytes, buffer)

    def recvfrom(self, buflen: int = 1024, flags: int = 0) -> Any:
        self._checkClosed()
        if self._sslobj is not None:
            raise ValueError(f"recvfrom not allowed on instances of {self.__class__}")
        return super().recvfrom(buflen, flags)

    def recvfrom_into(
        self, buffer: Any, nbytes: int | None = None, flags: int = 0
    ) -> Any:
        self._checkClosed()
        if self._sslobj is not None:
            raise ValueError(
                f"recvfrom_into not allowed on instances of {self.__class__}"
            )
        return super().recvfrom_into(buffer, nbytes or 0, flags)

    def recvmsg(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"recvmsg not allowed on instances of {self.__class__}"
        )

    def recvmsg_into(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"recvmsg_into not allowed on instances of {self.__class__}"
        )

    def pending(self) -> int:
        """The number of decrypted bytes ready to be read without I/O."""
        self._checkClosed()
        if self._sslobj is not None:
            return self._sslobj.pending()
        return 0

    # ---- handshake, connection set-up and tear-down ---------------------------

    def do_handshake(self, block: bool = False) -> None:
        """Perform the TLS handshake."""
        self._check_connected()
        timeout = self.gettimeout()
        try:
            if timeout == 0.0 and block:
                self.settimeout(None)
            self._sslobj.do_handshake()
        finally:
            self.settimeout(timeout)

    def _real_connect(self, addr: Any, connect_ex: bool) -> int | None:
        if self.server_side:
            raise ValueError("can't connect in server-side mode")
        if self._connected or self._sslobj is not None:
            raise ValueError("attempt to connect already-connected SSLSocket!")
        self._sslobj = self._new_connection()
        try:
            if connect_ex:
                rc = super().connect_ex(addr)
            else:
                rc = None
                super().connect(addr)
            if not rc:
                self._connected = True
                if self.do_handshake_on_connect:
                    self.do_handshake()
            return rc
        except (OSError, ValueError):
            self._sslobj = None
            raise

    def connect(self, addr: Any) -> None:
        """Connect to ``addr``, then perform the TLS handshake (unless
        do_handshake_on_connect is false)."""
        self._real_connect(addr, False)

    def connect_ex(self, addr: Any) -> int:
        """Like connect(), but return an errno instead of raising for
        connection errors."""
        return self._real_connect(addr, True)  # type: ignore[return-value]

    def accept(self) -> tuple[SSLSocket, Any]:
        """Accept a connection; returns (server-side SSLSocket, address)."""
        sock, addr = super().accept()
        wrapped = self.context.wrap_socket(
            sock,
            do_handshake_on_connect=self.do_handshake_on_connect,
            suppress_ragged_eofs=self.suppress_ragged_eofs,
            server_side=True,
        )
        return wrapped, addr

    def shutdown(self, how: int) -> None:
        self._checkClosed()
        self._sslobj = None
        super().shutdown(how)

    def unwrap(self) -> Any:
        """Perform the TLS shutdown handshake and return the socket, which
        goes on in clear text."""
        if not self._sslobj:
            raise ValueError(f"No SSL wrapper around {self}")
        sock = self._sslobj.shutdown()
        self._sslobj = None
        return sock

    def verify_client_post_handshake(self) -> None:
        """Request the client's certificate (TLS 1.3 post-handshake
        authentication); it is read with the next data from the client."""
        if not self._sslobj:
            raise ValueError(f"No SSL wrapper around {self}")
        self._sslobj.verify_client_post_handshake()

    def _real_close(self, *args: Any, **kwargs: Any) -> None:
        sslobj, self._sslobj = self._sslobj, None
        if sslobj is not None:
            # Held only by this local (a call running in another thread
            # holds the connection through its frames, and maybe the SSL*'s
            # cdata through a local of its own, each a reference more):
            # free it and close the descriptor in one C call that releases
            # the GIL once, as the stdlib's close does.
            if (
                refcount(sslobj) == UNSHARED_CONNECTION
                and refcount(sslobj.ssl_ptr) == UNSHARED_SSL_PTR
            ):
                sslobj.free_and_close(_socket.socket.detach(self))
                return
            # In use elsewhere: it is freed when the last user lets it go.
            # OpenSSL must not use the descriptor number again: the next
            # socket opened gets it (a call still running in another
            # thread fails instead).
            lib.pyssl_forget_fd(sslobj.ssl_ptr)
        super()._real_close(*args, **kwargs)  # type: ignore[misc]

    # ---- what the handshake settled ------------------------------------------

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The peer's certificate: a dict (empty if unverified), or DER
        bytes with ``binary_form``; None if the peer sent none."""
        self._checkClosed()
        self._check_connected()
        return self._sslobj.getpeercert(binary_form)

    def get_verified_chain(self) -> list[bytes]:
        """The verified certificate chain, leaf first, as DER bytes."""
        return chain_to_der(self._sslobj.get_verified_chain())

    def get_unverified_chain(self) -> list[bytes]:
        """The chain the peer sent, leaf first, as DER bytes."""
        return chain_to_der(self._sslobj.get_unverified_chain())

    def selected_alpn_protocol(self) -> str | None:
        """The protocol ALPN selected, or None."""
        self._checkClosed()
        if self._sslobj is None:
            return None
        return self._sslobj.selected_alpn_protocol()

    def selected_npn_protocol(self) -> str | None:
        """The protocol NPN selected, or None. NPN is deprecated."""
        self._checkClosed()
        import warnings

        warnings.warn(
            "ssl NPN is deprecated, use ALPN instead", DeprecationWarning, stacklevel=2
        )
        if self._sslobj is None:
            return None
        return self._sslobj.selected_npn_protocol()

    def cipher(self) -> Any:
        """(name, protocol, secret bits) of the cipher in use, or None."""
        self._checkClosed()
        if self._sslobj is None:
            return None
        return self._sslobj.cipher()

    def group(self) -> str | None:
        """The group used for key agreement on this connection, or None
        before the handshake."""
        self._checkClosed()
        if self._sslobj is None:
            return None
        return self._sslobj.group()

    def client_sigalg(self) -> str | None:
        """The signature algorithm of the client's certificate-based
        authentication, or None before the handshake or without it."""
        self._checkClosed()
        if self._sslobj is None:
            return None
        return self._sslobj.client_sigalg()

    def server_sigalg(self) -> str | None:
        """The signature algorithm the server completed the handshake with,
        or None before the handshake or when it signed nothing."""
        self._checkClosed()
        if self._sslobj is None:
            return None
        return self._sslobj.server_sigalg()

    def shared_ciphers(self) -> Any:
        """The ciphers both sides enable (server side only), or None."""
        self._checkClosed()
        if self._sslobj is None:
            return None
        return self._sslobj.shared_ciphers()

    def compression(self) -> str | None:
        """The compression algorithm in use, or None."""
        self._checkClosed()
        if self._sslobj is None:
            return None
        return self._sslobj.compression()

    def get_channel_binding(self, cb_type: str = "tls-unique") -> bytes | None:
        """Channel binding data for ``cb_type`` (RFC 5929 "tls-unique", or
        RFC 9266 "tls-exporter" on TLS 1.3), or None."""
        if self._sslobj is not None:
            return self._sslobj.get_channel_binding(cb_type)
        if cb_type not in BINDING_TYPES:
            raise ValueError(f"{cb_type} channel binding type not implemented")
        return None

    def version(self) -> str | None:
        """The negotiated protocol version, or None before the handshake."""
        if self._sslobj is not None:
            return self._sslobj.version()
        return None

    # ---- pyssl additions (docs/additions.md) ----------------------------------

    def get_ocsp_response(self) -> bytes | None:
        """The DER OCSP response the server stapled to the handshake, or
        None (see SSLContext.request_ocsp_response)."""
        if self._sslobj is not None:
            return self._sslobj.get_ocsp_response()
        return None

    def _require_tls(self) -> Any:
        sslobj = self._sslobj
        if sslobj is None:
            raise ValueError(f"No SSL wrapper around {self}")
        return sslobj

    def export_keying_material(
        self, label: str | bytes, length: int, context: bytes | None = None
    ) -> bytes:
        """``length`` bytes of keying material for ``label`` (RFC 5705,
        RFC 8446 7.5), the same on both ends; ``context`` None means no
        context value."""
        return self._require_tls().export_keying_material(label, length, context)

    def get_finished(self) -> bytes | None:
        """The latest Finished message this end sent, or None."""
        return None if self._sslobj is None else self._sslobj.get_finished()

    def get_peer_finished(self) -> bytes | None:
        """The latest Finished message the peer sent, or None."""
        return None if self._sslobj is None else self._sslobj.get_peer_finished()

    def key_update(self, request_peer: bool = False) -> None:
        """Send a TLS 1.3 KeyUpdate; with ``request_peer`` the peer updates
        its sending keys too."""
        self._require_tls().key_update(request_peer)

    def read_early_data(self, len: int = 1024) -> bytes:
        """Server side, before the handshake (wrap with
        do_handshake_on_connect=False): up to ``len`` bytes of the client's
        TLS 1.3 early data; b'' once there is no more. Early data can be
        replayed."""
        return self._require_tls().read_early_data(len)

    def write_early_data(self, data: Any) -> int:
        """Client side, before the handshake (wrap with
        do_handshake_on_connect=False, on a session whose
        ``max_early_data`` is not 0): send ``data`` as TLS 1.3 early data."""
        return self._require_tls().write_early_data(data)

    @property
    def early_data_accepted(self) -> bool | None:
        """Whether the server accepted the early data; None until the
        handshake is complete."""
        return None if self._sslobj is None else self._sslobj.early_data_accepted


SSLSocket.__module__ = "pyssl"
