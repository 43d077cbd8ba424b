"""Connection: one SSL*, and every per-connection OpenSSL call (the
settings it makes on its SSL* are in ``_connection_settings.py``, what early
data checks first in ``_early_data.py``).

This is the object the stdlib calls ``_ssl._SSLSocket`` (``SSLSocket._sslobj``
and ``SSLObject._sslobj``). It knows nothing about sockets: when an
operation cannot go on without I/O it calls ``_wait``, which here raises
``SSLWantReadError``/``SSLWantWriteError`` (the sans-I/O contract of
``SSLObject``). The socket driver in ``_socket_connection.py`` overrides
``_wait`` to poll the socket until the deadline instead.

docs/internals.md says how this fits with the rest.
"""

from __future__ import annotations

import sys
import weakref
from operator import index
from typing import Any, NoReturn

from pyssl import _early_data
from pyssl._arguments import as_clinic_int
from pyssl._buffers import SCRATCH_SIZE, local, new_scratch, readable_buffer
from pyssl._connection_settings import (
    enable_post_handshake_auth,
    set_server_name,
    switch_context,
)
from pyssl._errors import (
    SSLWantReadError,
    clear_queue,
    connection_error,
    error_from_queue,
    plain_error,
    want_error,
)
from pyssl._lib import HAS_TLSv1_3, fast_paths, ffi, lib
from pyssl._negotiated import Negotiated

_ERROR_NONE = lib.SSL_ERROR_NONE
_WANT_READ = lib.SSL_ERROR_WANT_READ
_WANT_WRITE = lib.SSL_ERROR_WANT_WRITE
_ZERO_RETURN = lib.SSL_ERROR_ZERO_RETURN
_RECEIVED_SHUTDOWN = lib.SSL_RECEIVED_SHUTDOWN
_HANDSHAKE_SEEN = lib.PYSSL_HANDSHAKE_SEEN
# The type of a caller's buffer as cffi sees it (a ctype: no string to parse).
_CHAR_ARRAY = ffi.typeof("char[]")
# What the read and write helpers return for WANT_READ, and what read()
# then raises over memory BIOs.
_MINUS_WANT_READ = -_WANT_READ
_WANT_READ_MESSAGE = want_error(_WANT_READ, "read").strerror

# read() has a parameter named len, as in the stdlib.
_length = len

_ssl_read = fast_paths.ssl_read
_ssl_write = fast_paths.ssl_write
# Reads into the caller's buffer from C; None where the module is built for
# CPython 3.10's stable ABI, which has no buffer protocol (fast_paths.h).
_ssl_read_into = getattr(fast_paths, "ssl_read_into", None)
# Without it, read()'s size is checked as the C path checks it: a ssize_t.
_SSIZE_LIMIT = sys.maxsize + 1
_SSIZE_OVERFLOW = "Python int too large to convert to C ssize_t"
# pending() is a getter callers poll: a module global is found faster than
# an attribute of cffi's lib object.
_SSL_pending = lib.SSL_pending


class Connection(Negotiated):
    """One TLS connection (an OpenSSL ``SSL*``)."""

    __slots__ = (
        "ssl_ptr",
        "_context",
        "_original_context",
        "server_side",
        "server_hostname",
        "_owner",
        "_handle",
        "_io",
        "_write_io",
        # _io's address, what the fast paths take (_io keeps it alive).
        "_io_address",
        "callback_error",
        "__weakref__",
        # Set with callback_error (see _callbacks._keep_first_error): True
        # when that is raised itself, with the failure as its cause.
        "callback_error_raised",
        # Set by read_early_data() once the early data has ended.
        "_early_data_finished",
        # The server_hostname the peer's certificate is checked against,
        # or None (see Negotiated.session).
        "_checked_name",
        # True for a client made while check_hostname was set but without a
        # server_hostname (see refuse_unnamed_peer).
        "_no_name_to_check",
    )

    # False over memory BIOs: errno then says nothing about the transport.
    uses_socket = False
    # The I/O helpers. Over memory BIOs nothing can block, and the caller
    # is usually an event loop: these keep the GIL (see helpers.h).
    _read_fn = lib.pyssl_read_in_memory
    _write_fn = lib.pyssl_write_in_memory
    _free_fn = lib.SSL_free

    def __init__(
        self,
        context: Any,
        server_side: bool,
        server_hostname: str | None,
        owner: Any = None,
        session: Any = None,
        fd: int = -1,
    ) -> None:
        only = context._only_server_side
        if only is not None and server_side is not only:
            if server_side:
                raise plain_error(
                    "Cannot create a server socket with a PROTOCOL_TLS_CLIENT context"
                )
            raise plain_error(
                "Cannot create a client socket with a PROTOCOL_TLS_SERVER context"
            )
        # The void * the SSL* carries back to this object for callbacks
        # (_callbacks.connection_of): a handle on a weak reference, so it
        # keeps nothing alive and needs no bookkeeping when this goes. It
        # must live as long as the SSL*.
        self._handle = handle = ffi.new_handle(weakref.ref(self))
        # What the I/O helpers take and fill in, allocated once per
        # connection (the SSL* itself stays owned by ssl_ptr): [0] for reads,
        # [1] for writes (see pyssl_new_ssl), kept alive by _io.
        self._io = io = ffi.new("pyssl_io[2]")
        self._write_io = io + 1
        self._io_address = int(ffi.cast("uintptr_t", io))
        # A server resumes only sessions made in its own session id context
        # (set there). Clients get none: a TLS 1.3 external PSK makes a
        # session without one, which a client with a context refuses.
        ssl_ptr = lib.pyssl_new_ssl(context._ctx_ptr, handle, server_side, fd, io)
        if ssl_ptr == ffi.NULL:
            raise error_from_queue("SSL_new")
        self.ssl_ptr = ffi.gc(ssl_ptr, self._free_fn)
        # The current context can change (SNI); the one the SSL* was made
        # with stays in use by OpenSSL, so both are kept alive.
        self._context = self._original_context = context
        self.server_side = server_side
        self.server_hostname: str | None = None
        self._owner: Any = weakref.ref(owner) if owner is not None else None
        self.callback_error: BaseException | None = None
        self._early_data_finished = False
        self._checked_name: str | None = None
        self._no_name_to_check = False
        self._forget()  # nothing settled yet
        if context._post_handshake_auth:
            self._enable_post_handshake_auth()
        if server_hostname is not None:
            self._configure_hostname(server_hostname)
        elif not server_side and context._check_hostname:
            # wrap_socket() refuses this; wrap_bio() and _wrap_socket() go on.
            self.refuse_unnamed_peer()
        if session is not None:
            self.session = session

    def _enable_post_handshake_auth(self) -> None:
        enable_post_handshake_auth(self.ssl_ptr, self.server_side)

    def _configure_hostname(self, hostname: str) -> None:
        check = self._context._check_hostname
        set_server_name(self.ssl_ptr, hostname, check)
        self.server_hostname = hostname
        self._checked_name = hostname if check else None

    def refuse_unnamed_peer(self) -> None:
        """For a client whose context checks host names but that was given
        no server_hostname: the handshake fails when the server's
        certificate would be accepted, as a host name mismatch, since there
        is no name to check it against (the stdlib's connection checks no
        name). Failing there rather than on creation leaves earlier errors,
        such as the transport's, to be seen as they are with the stdlib."""
        self._no_name_to_check = True
        ssl_ptr = self.ssl_ptr
        lib.SSL_set_verify(
            ssl_ptr, lib.SSL_get_verify_mode(ssl_ptr), lib.pyssl_verify_cb
        )

    # ---- waiting -----------------------------------------------------------

    def _wait(self, err: int, deadline: float | None, operation: str) -> float | None:
        """Called when OpenSSL needs I/O (``err`` is WANT_READ/WANT_WRITE)
        before ``operation`` can go on. Sans-I/O: the caller must do it."""
        self._fail(want_error(err, operation))

    def _fail(self, failure: BaseException) -> NoReturn:
        """Raise ``failure``, with what a callback raised during the call as
        its cause; or raise that, with ``failure`` as its cause, when it is
        the verify callback's (see ``callback_error_raised``)."""
        error, self.callback_error = self.callback_error, None
        try:
            if error is not None:
                if getattr(self, "callback_error_raised", False):
                    error.__context__ = failure
                    raise error from failure
                # Also the context, where the stdlib puts it.
                failure.__context__ = error
                raise failure from error
            raise failure
        finally:
            # The traceback keeps this frame: without the exception in it,
            # no reference cycle is left for the garbage collector. (None is
            # no BaseException, but the parameter is not read again.)
            failure = error = None  # type: ignore[assignment]

    def _raise_callback_error(self) -> None:
        """After a call that succeeded: raise what a callback raised in it."""
        error, self.callback_error = self.callback_error, None
        try:
            if error is not None:
                raise error
        finally:
            error = None  # no cycle through this frame (see _fail())

    # ---- handshake, I/O, shutdown -----------------------------------------

    def do_handshake(self) -> None:
        """Perform the TLS handshake."""
        self._handshake_steps("handshake", "do_handshake")
        self._forget()
        if self.callback_error is not None:
            self._raise_callback_error()

    def _handshake_steps(self, waiting_for: str, operation: str) -> None:
        """Call SSL_do_handshake() until it is done (see _until_done())."""
        ssl_ptr = self.ssl_ptr
        status = ffi.new("int[2]")  # its own: _io holds what reads and writes report
        # Over a blocking socket the first call is the whole handshake.
        err = lib.pyssl_do_handshake(ssl_ptr, status)
        if err != _ERROR_NONE:
            self._until_done(
                lambda: lib.pyssl_do_handshake(ssl_ptr, status),
                status,
                waiting_for,
                operation,
                err,
            )

    def _until_done(
        self,
        step: Any,
        status: Any,
        waiting_for: str,
        operation: str,
        err: int | None = None,
    ) -> None:
        """Call ``step`` (a helper that returns SSL_ERROR_NONE or the
        SSL_get_error() code and fills ``status``) until it succeeds,
        waiting for I/O as the connection does; raise what stops it.
        ``err``: what a first call the caller made itself returned."""
        deadline = None
        while True:
            if err is None:
                err = step()
            if err == _ERROR_NONE:
                return
            # A callback's exception does not stop a handshake OpenSSL goes on
            # with; it is raised once the handshake ends or needs I/O.
            if err == _WANT_READ or err == _WANT_WRITE:
                deadline = self._wait(err, deadline, waiting_for)
                err = None
                continue
            self._fail(connection_error(self, err, status, operation))

    # read() and write() are the hot path: one Python frame and one C call
    # (pyssl._fast_paths, see fast_paths.h) when OpenSSL has what it needs.
    # Everything else (waiting, retrying, handshakes seen, errors) is in
    # _read_on() and _finish_io().

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        """Read up to ``len`` bytes; into ``buffer`` when given (returning
        the count), else as ``bytes``. A clean close_notify gives 0 / b''."""
        if type(len) is not int:
            len = index(len)
        if buffer is None:
            if len <= 0:
                if len < 0:
                    if len < -_SSIZE_LIMIT:  # as _ssl converts it: first
                        raise OverflowError(_SSIZE_OVERFLOW)
                    raise ValueError("size should not be negative")
                return b""
            got = _ssl_read(self._io_address, len, self.uses_socket)
            if type(got) is bytes and self.callback_error is None:
                return got
            if (
                got == _MINUS_WANT_READ
                and not self.uses_socket
                and self.callback_error is None
            ):
                # Over memory BIOs the caller feeds the incoming BIO and
                # comes back: asyncio ends every read this way.
                raise SSLWantReadError(_WANT_READ, _WANT_READ_MESSAGE)
            return self._read_on(got, len)
        if _ssl_read_into is not None:
            got = _ssl_read_into(self._io_address, buffer, len, self.uses_socket)
            if got is not None:
                if got >= 0 and self.callback_error is None:
                    return got
                if (
                    got == _MINUS_WANT_READ
                    and not self.uses_socket
                    and self.callback_error is None
                ):
                    raise SSLWantReadError(_WANT_READ, _WANT_READ_MESSAGE)
            # Not a writable buffer (None: raised below), or the read did
            # not simply succeed: cffi's path, which also goes on from got.
        else:
            got = None
            if not -_SSIZE_LIMIT <= len < _SSIZE_LIMIT:
                raise OverflowError(_SSIZE_OVERFLOW)
        try:
            # Positional arguments: cffi parses keywords slowly.
            dest = ffi.from_buffer(_CHAR_ARRAY, buffer, True)
        except (TypeError, BufferError):
            # The stdlib's "w*" argument: writable and contiguous.
            raise TypeError(
                "read() argument 2 must be read-write bytes-like object, "
                f"not {type(buffer).__name__}"
            ) from None
        size = _length(dest)  # a char[]: its length in bytes
        if 0 < len < size:
            size = len
        elif size == 0:
            return 0
        if got is None:
            got = self._read_fn(self._io, dest, size)
        if got < 0 or self.callback_error is not None:
            if (
                got == _MINUS_WANT_READ
                and not self.uses_socket
                and self.callback_error is None
            ):
                dest = None  # the traceback keeps this frame, not the buffer
                raise SSLWantReadError(_WANT_READ, _WANT_READ_MESSAGE)
            got = self._finish_io(self._read_fn, got, dest, size, "read", True)
        return got

    def _read_on(self, got: Any, len: int) -> bytes:
        """The rest of a read() into new bytes whose first call (ssl_read)
        returned ``got``: bytes when a callback raised, (bytes, result) when
        a handshake was seen, or the failure's negative result."""
        if type(got) is tuple:
            got = got[0]
            self._forget()
        if type(got) is bytes:
            if self.callback_error is not None:
                self._raise_callback_error()
            return got
        # Waiting (a socket with a timeout) and retrying go through the
        # thread's scratch buffer.
        try:
            dest, view = local.scratch
        except AttributeError:
            dest, view = new_scratch()
        size = len if len < SCRATCH_SIZE else SCRATCH_SIZE
        got = self._finish_io(self._read_fn, got, dest, size, "read", False)
        return view[:got]  # copied out before any other read in this thread

    def write(self, data: Any) -> int:
        """Write ``data`` (a bytes-like object); returns the bytes written."""
        if type(data) is bytes:
            written = _ssl_write(self._io_address, data, self.uses_socket)
            if written >= 0 and self.callback_error is None:
                return written
            return self._finish_io(
                self._write_fn, written, data, len(data), "write", False
            )
        src = readable_buffer(data)
        size = len(src)
        written = self._write_fn(self._write_io, src, size)
        if written >= 0 and self.callback_error is None:
            return written
        return self._finish_io(self._write_fn, written, src, size, "write", True)

    def _finish_io(
        self, io: Any, result: int, buf: Any, size: int, operation: str, borrowed: bool
    ) -> int:
        """Go on with a read or write (``io``) whose first call returned
        ``result`` (see pyssl_io_result in helpers.h): note a handshake,
        wait and retry, or raise. A ``borrowed`` ``buf`` (the caller's
        buffer, from ffi.from_buffer) is released when this raises, as the
        stdlib releases its Py_buffer: a traceback that keeps the caller's
        frame must not keep the caller's object locked."""
        # A pointer either way (_io is the array that owns both).
        state = self._io + 0 if operation == "read" else self._write_io
        deadline = None
        try:
            while True:
                if result >= 0:
                    err = _ERROR_NONE
                else:
                    err = -result
                    if err & _HANDSHAKE_SEEN:
                        self._forget()
                        err &= ~_HANDSHAKE_SEEN
                if err == _ERROR_NONE:
                    if self.callback_error is not None:
                        self._raise_callback_error()
                    return state.count
                if err == _WANT_READ or err == _WANT_WRITE:
                    deadline = self._wait(err, deadline, operation)
                elif (
                    err == _ZERO_RETURN
                    and operation == "read"
                    and lib.SSL_get_shutdown(self.ssl_ptr) == _RECEIVED_SHUTDOWN
                ):
                    # The peer closed cleanly and this side has not: plain EOF.
                    return 0
                else:
                    self._fail(connection_error(self, err, state.status, operation))
                result = io(state, buf, size)
        except BaseException:
            if borrowed:
                ffi.release(buf)
            raise

    # ---- kernel TLS -------------------------------------------------------

    def uses_ktls_for_send(self) -> bool:
        """Whether the kernel encrypts what this connection sends (kTLS)."""
        return bool(lib.pyssl_uses_ktls_send(self.ssl_ptr))

    def uses_ktls_for_recv(self) -> bool:
        """Whether the kernel decrypts what this connection receives (kTLS)."""
        return bool(lib.pyssl_uses_ktls_recv(self.ssl_ptr))

    def sendfile(self, fd: int, offset: int, size: int, flags: int = 0, /) -> int:
        """Send up to ``size`` bytes of the file ``fd`` from ``offset``
        without copying them through user space (SSL_sendfile); returns the
        number of bytes sent. Only for a connection whose sending goes
        through kernel TLS (uses_ktls_for_send()); ``flags`` are the
        platform's sendfile flags."""
        fd = as_clinic_int(fd)
        offset = index(offset)
        size = index(size)
        flags = as_clinic_int(flags)

        def send(state: Any, _buf: Any, _size: int) -> int:
            return lib.pyssl_sendfile(state, fd, offset, size, flags)

        sent = send(self._write_io, None, size)
        if sent >= 0 and self.callback_error is None:
            return sent
        # Waits for the socket and retries as a write does.
        return self._finish_io(send, sent, None, size, "sendfile", False)

    def pending(self) -> int:
        """The number of decrypted bytes ready to be read without I/O."""
        return _SSL_pending(self.ssl_ptr)

    def shutdown(self) -> Any:
        """Send close_notify and wait for the peer's. Returns the
        transport: the underlying socket, or None over memory BIOs."""
        ssl_ptr = self.ssl_ptr
        err = ffi.new("int *")
        status = ffi.new("int[2]")  # its own: _io holds what reads and writes report
        deadline = None
        zeros = 0
        while True:
            ret = lib.pyssl_shutdown(ssl_ptr, err, status)
            if ret > 0:
                break
            if ret == 0:
                # close_notify sent; one more call reads the peer's. Only
                # two tries, as the stdlib: a peer that never answers must
                # not hang unwrap().
                zeros += 1
                if zeros > 1:
                    break
                continue
            code = err[0]
            if code == _WANT_READ or code == _WANT_WRITE:
                deadline = self._wait(
                    code, deadline, "read" if code == _WANT_READ else "write"
                )
                continue
            self._fail(connection_error(self, code, status, "shutdown"))
        self._forget()
        self._raise_callback_error()
        return self._transport()

    def _transport(self) -> Any:
        return None

    def verify_client_post_handshake(self) -> None:
        """Ask a TLS 1.3 client for its certificate after the handshake."""
        if not HAS_TLSv1_3:
            raise NotImplementedError(
                "Post-handshake auth is not supported by your OpenSSL version."
            )
        clear_queue()
        if not lib.SSL_verify_client_post_handshake(self.ssl_ptr):
            raise error_from_queue("verify_client_post_handshake")
        # OpenSSL counts the connection as handshaking until the answer.
        self._forget()

    def key_update(self, request_peer: bool = False) -> None:
        """Send a TLS 1.3 KeyUpdate: this end's sending keys change; with
        ``request_peer`` the peer is asked to change its own as well."""
        kind = (
            lib.SSL_KEY_UPDATE_REQUESTED
            if request_peer
            else lib.SSL_KEY_UPDATE_NOT_REQUESTED
        )
        ssl_ptr = self.ssl_ptr
        clear_queue()
        if not lib.SSL_key_update(ssl_ptr, kind):
            raise error_from_queue("key_update")
        # OpenSSL only queues the message; a handshake step sends it now
        # rather than with the next write, which may be long in coming.
        self._handshake_steps("key_update", "key_update")
        self._raise_callback_error()

    # ---- TLS 1.3 early data -------------------------------------------------

    def read_early_data(self, len: int = 1024) -> bytes:
        """Server side, before the handshake: read up to ``len`` bytes of
        the client's early data. b'' means there is no (more) early data:
        the client sent none, it was rejected, or it has all been read;
        then finish with do_handshake()."""
        return _early_data.read(self, len)

    def write_early_data(self, data: Any) -> int:
        """Client side, before the handshake, on a session whose server
        allows early data: send ``data`` as early data. Returns the number
        of bytes written."""
        return _early_data.write(self, data)

    def _run_early_data(self, io: Any, buf: Any, size: int, operation: str) -> int:
        """Call the early-data helper ``io`` until it succeeds, waiting for
        the transport as the connection does; returns the byte count."""
        ssl_ptr = self.ssl_ptr
        # Its own out-parameters: _io holds what reads and writes report.
        count = ffi.new("size_t *")
        status = ffi.new("int[2]")
        self._until_done(
            lambda: io(ssl_ptr, buf, size, count, status), status, operation, operation
        )
        # The handshake went on: what the getters kept may be stale.
        self._forget()
        self._raise_callback_error()
        return count[0]

    # ---- attributes --------------------------------------------------------

    @property
    def context(self) -> Any:
        """The SSLContext in use; assigning one switches the SSL_CTX."""
        return self._context

    @context.setter
    def context(self, context: Any) -> None:
        switch_context(self.ssl_ptr, context)
        self._context = context
        # getpeercert() depends on the context's verify mode.
        self._forget()

    @property
    def transport_socket(self) -> Any:
        """The socket this connection reads and writes, or None over
        memory BIOs."""
        return None

    @property
    def owner(self) -> Any:
        """The SSLSocket or SSLObject this connection serves."""
        return self._owner() if self._owner is not None else None

    @owner.setter
    def owner(self, value: Any) -> None:
        self._owner = weakref.ref(value) if value is not None else None
