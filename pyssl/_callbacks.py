"""Callbacks from OpenSSL into Python: their settings on SSLContext and the
``extern "Python"`` functions OpenSSL calls.

A callback never lets an exception escape into OpenSSL unreported. What a
user callback raises is stored on the connection it served, and the
operation that triggered it (usually the handshake) raises it or chains it
as the cause of its SSLError once OpenSSL returns. Where the stdlib also
reports the error through ``sys.unraisablehook`` (the SNI and PSK
callbacks), pyssl does too, by letting it reach cffi, which reports it that
way.

OpenSSL hands callbacks a ``void *``. For long-lived objects (contexts,
connections) that pointer is a plain integer key into a table of weak
references, so no reference cycle and no ``ffi.new_handle`` is kept on the
object itself; short-lived helpers (a password source during one load
call) travel as ``ffi.new_handle``.

docs/internals.md says how this fits with the rest.
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from pyssl._arguments import as_c_long
from pyssl._errors import clear_queue, own_error
from pyssl._lib import ffi, lib

_objects: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_keys = itertools.count(1)

# SSL ex-data slot holding a connection's handle: a cffi handle on a weak
# reference to the Connection (made in Connection.__init__).
EX_DATA_INDEX = lib.pyssl_connection_ex_index()
if EX_DATA_INDEX < 0:  # pragma: no cover - out of memory
    raise MemoryError("cannot allocate an OpenSSL ex_data index")


def register(obj: Any) -> Any:
    """Give ``obj`` a key OpenSSL can carry; returns it as a ``void *``."""
    key = next(_keys)
    _objects[key] = obj
    return ffi.cast("void *", key)


def lookup(pointer: Any) -> Any:
    """The object registered under ``pointer``, or None once it is gone."""
    if pointer == ffi.NULL:
        return None
    return _objects.get(int(ffi.cast("uintptr_t", pointer)))


def connection_of(ssl_ptr: Any) -> Any:
    """The Connection that owns an ``SSL*``, or None."""
    pointer = lib.SSL_get_ex_data(ssl_ptr, EX_DATA_INDEX)
    if pointer == ffi.NULL:
        return None
    return ffi.from_handle(pointer)()


def _python_side(connection: Any) -> Any:
    """What a user callback receives for a connection, as the stdlib
    chooses it: its owner (the SSLSocket or SSLObject), else the socket it
    was made over, else the connection itself."""
    owner = connection.owner
    if owner is not None:
        return owner
    sock = connection.transport_socket
    return sock if sock is not None else connection


def _keep_first_error(
    connection: Any, exc: BaseException, raised_itself: bool = False
) -> None:
    """Store ``exc`` on the connection unless an earlier error waits there.
    ``raised_itself``: the operation raises ``exc`` with its own failure
    as the cause, rather than the other way round (Connection._fail)."""
    if connection is not None and connection.callback_error is None:
        connection.callback_error = exc
        connection.callback_error_raised = raised_itself


# ---- private-key passwords (SSL_CTX_set_default_passwd_cb) ---------------


class PasswordSource:
    """The ``password`` argument of ``load_cert_chain``, for one call."""

    __slots__ = ("_value", "_callable", "error")

    def __init__(self, password: Any) -> None:
        self.error: BaseException | None = None
        self._callable: Callable[[], Any] | None = None
        self._value = b""
        if callable(password):
            self._callable = password
        else:
            self._value = _password_bytes(
                password, "password should be a string or callable"
            )

    def read(self, size: int) -> bytes:
        if self._callable is not None:
            value = _password_bytes(
                self._callable(), "password callback must return a string"
            )
        else:
            value = self._value
        if len(value) > size:
            raise ValueError(f"password cannot be longer than {size} bytes")
        return value


def _password_bytes(value: Any, type_error: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise TypeError(type_error)


@ffi.def_extern()
def pyssl_password_cb(buf: Any, size: int, rwflag: int, userdata: Any) -> int:
    source: PasswordSource = ffi.from_handle(userdata)
    try:
        value = source.read(size)
    except BaseException as exc:
        source.error = exc
        return -1
    ffi.memmove(buf, value, len(value))
    return len(value)


# ---- the settings on SSLContext --------------------------------------------


class ContextCallbacks:
    """The SSLContext attributes that install Python callbacks."""

    _ctx_ptr: Any
    _key: Any
    _protocol: int
    _sni_callback: Any = None
    _msg_callback_function: Any = None
    _keylog_filename: Any = None
    _keylog_file: Any = None
    _psk_client_callback: Any = None
    _psk_server_callback: Any = None

    @property
    def sni_callback(self) -> Any:
        """Called as ``callback(sslsocket, server_name, sslcontext)`` when a
        client sends a server name; may switch ``sslsocket.context``, and
        returns None, or an ALERT_DESCRIPTION_* to refuse the handshake."""
        return self._sni_callback

    @sni_callback.setter
    def sni_callback(self, callback: Any) -> None:
        from pyssl._enums import PROTOCOL_TLS_CLIENT

        if self._protocol == PROTOCOL_TLS_CLIENT:
            raise ValueError("sni_callback cannot be set on TLS_CLIENT context")
        if callback is None:
            self._sni_callback = None
            lib.SSL_CTX_set_tlsext_servername_callback(self._ctx_ptr, ffi.NULL)
            return
        if not callable(callback):
            self._sni_callback = None
            lib.SSL_CTX_set_tlsext_servername_callback(self._ctx_ptr, ffi.NULL)
            raise TypeError("not a callable object")
        self._sni_callback = callback
        lib.SSL_CTX_set_tlsext_servername_callback(
            self._ctx_ptr, lib.pyssl_servername_cb
        )
        lib.SSL_CTX_set_tlsext_servername_arg(self._ctx_ptr, self._key)

    @property
    def keylog_filename(self) -> Any:
        """Append TLS secrets to this file in the NSS key log format (for
        Wireshark); None disables it."""
        return self._keylog_filename

    @keylog_filename.setter
    def keylog_filename(self, filename: Any) -> None:
        if self._keylog_file is not None:
            self._keylog_file.close()
            self._keylog_file = None
        self._keylog_filename = None
        if filename is None:
            lib.SSL_CTX_set_keylog_callback(self._ctx_ptr, ffi.NULL)
            return
        # A path only: open() would also take an int and adopt that
        # descriptor, then close it with the context.
        path = os.fspath(filename)
        try:
            keylog = open(path, "a", encoding="ascii")  # noqa: SIM115 - kept open on the context
        except OSError as exc:
            exc.filename = filename  # as given (a Path stays a Path)
            raise
        keylog_file = _KeylogFile(keylog, self)
        try:
            if keylog.seekable() and keylog.tell() == 0:
                keylog.write("# TLS secrets log file, generated by OpenSSL / pyssl\n")
                keylog.flush()
        except BaseException:
            keylog_file.close()
            raise
        self._keylog_file = keylog_file
        self._keylog_filename = filename
        lib.SSL_CTX_set_keylog_callback(self._ctx_ptr, lib.pyssl_keylog_cb)

    @property
    def _msg_callback(self) -> Any:
        """Called as ``callback(conn, direction, version, content_type,
        msg_type, data)`` for every TLS protocol message (debugging), with
        the numbers as ints (``SSLContext._msg_callback`` makes them enums)."""
        return self._msg_callback_function

    @_msg_callback.setter
    def _msg_callback(self, callback: Any) -> None:
        if callback is None:
            self._msg_callback_function = None
            lib.SSL_CTX_set_msg_callback(self._ctx_ptr, ffi.NULL)
            return
        if not callable(callback):
            raise TypeError(f"{callback} is not callable.")
        self._msg_callback_function = callback
        lib.SSL_CTX_set_msg_callback(self._ctx_ptr, lib.pyssl_msg_cb)

    def set_psk_client_callback(self, callback: Any) -> None:
        """Use pre-shared keys: ``callback(hint)`` returns
        ``(identity or None, psk bytes)``."""
        from pyssl._enums import PROTOCOL_TLS_SERVER

        if self._protocol == PROTOCOL_TLS_SERVER:
            raise own_error(
                "Cannot add PSK client callback to a PROTOCOL_TLS_SERVER context",
                "set_psk_client_callback",
            )
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable")
        self._psk_client_callback = callback
        lib.SSL_CTX_set_psk_client_callback(
            self._ctx_ptr, lib.pyssl_psk_client_cb if callback is not None else ffi.NULL
        )

    def set_psk_server_callback(
        self, callback: Any, identity_hint: str | None = None
    ) -> None:
        """Accept pre-shared keys: ``callback(identity)`` returns the psk
        bytes; ``identity_hint`` is sent to clients."""
        from pyssl._enums import PROTOCOL_TLS_CLIENT

        # The argument's type is checked first, as the stdlib parses it.
        if identity_hint is not None and not isinstance(identity_hint, str):
            raise TypeError(
                "set_psk_server_callback() argument 'identity_hint' must be str or None, "
                f"not {type(identity_hint).__name__}"
            )
        if identity_hint is not None and "\0" in identity_hint:
            raise ValueError("embedded null character")
        if self._protocol == PROTOCOL_TLS_CLIENT:
            raise own_error(
                "Cannot add PSK server callback to a PROTOCOL_TLS_CLIENT context",
                "set_psk_server_callback",
            )
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable")
        hint = ffi.NULL if identity_hint is None else identity_hint.encode("utf-8")
        if not lib.SSL_CTX_use_psk_identity_hint(self._ctx_ptr, hint):
            clear_queue()
            raise ValueError("failed to set identity hint")
        self._psk_server_callback = callback
        lib.SSL_CTX_set_psk_server_callback(
            self._ctx_ptr, lib.pyssl_psk_server_cb if callback is not None else ffi.NULL
        )


class _KeylogFile:
    """A key log file shared by the connections of a context; lines from
    concurrent handshakes must not interleave. The file is closed when
    ``close()`` is called (a new ``keylog_filename``) or when the context
    is freed, as the stdlib does, rather than by the garbage collector."""

    __slots__ = ("file", "lock", "close")

    def __init__(self, file: Any, context: Any) -> None:
        self.file = file
        self.lock = threading.Lock()
        # The finalizer keeps its arguments alive until it runs: given the
        # file and its lock, never the context, it lets the context be freed.
        self.close = weakref.finalize(context, _close_keylog, file, self.lock)

    def write_line(self, line: str) -> None:
        with self.lock:
            # A handshake in another thread may still hold this file when
            # keylog_filename changes: its lines are dropped, as when no
            # key log is set, rather than failing the handshake.
            if self.file.closed:
                return
            self.file.write(line + "\n")
            self.file.flush()


def _close_keylog(file: Any, lock: Any) -> None:
    with lock:
        file.close()


# ---- the functions OpenSSL calls ---------------------------------------------


@ffi.def_extern(error=lib.SSL_TLSEXT_ERR_ALERT_FATAL)
def pyssl_servername_cb(ssl_ptr: Any, alert: Any, arg: Any) -> int:
    context = lookup(arg)
    callback = context.sni_callback if context is not None else None
    if callback is None:
        return lib.SSL_TLSEXT_ERR_OK
    connection = connection_of(ssl_ptr)
    name = lib.SSL_get_servername(ssl_ptr, lib.TLSEXT_NAMETYPE_host_name)
    try:
        # The name arrives as an A-label and stays one (ASCII).
        server_name = None if name == ffi.NULL else ffi.string(name).decode("ascii")
        result = callback(_python_side(connection), server_name, context)
    except BaseException as exc:
        # RFC 6066 leaves the alert to the server; the stdlib's is this one.
        alert[0] = lib.SSL_AD_HANDSHAKE_FAILURE
        _keep_first_error(connection, exc)
        raise
    if result is None:
        return lib.SSL_TLSEXT_ERR_OK
    try:
        # Converted as a C long, then narrowed to the int OpenSSL takes, as
        # the stdlib does.
        alert[0] = (as_c_long(result) + 2**31) % 2**32 - 2**31
    except BaseException as exc:
        alert[0] = lib.SSL_AD_INTERNAL_ERROR
        _keep_first_error(connection, exc)
        raise
    return lib.SSL_TLSEXT_ERR_ALERT_FATAL


@ffi.def_extern()
def pyssl_keylog_cb(ssl_ptr: Any, line: Any) -> None:
    connection = connection_of(ssl_ptr)
    if connection is None:
        return
    keylog = connection.context._keylog_file
    if keylog is None:
        return
    try:
        keylog.write_line(ffi.string(line).decode("ascii"))
    except BaseException as exc:
        _keep_first_error(connection, exc)


@ffi.def_extern()
def pyssl_msg_cb(
    write_p: int,
    version: int,
    content_type: int,
    buf: Any,
    size: int,
    ssl_ptr: Any,
    arg: Any,
) -> None:
    connection = connection_of(ssl_ptr)
    if connection is None:
        return
    callback = connection.context._msg_callback_function
    if callback is None:
        return
    data = ffi.unpack(ffi.cast("char *", buf), size)
    # The message type is the first byte of a handshake message and the
    # second of an alert (its description, after the level). A record
    # header gives its record type, and its own version replaces the
    # connection's; a ChangeCipherSpec has a pseudo message type.
    if content_type == lib.SSL3_RT_HEADER and size >= 3:
        msg_type = data[0]
        version = (data[1] << 8) | data[2]
    elif content_type == lib.SSL3_RT_CHANGE_CIPHER_SPEC:
        msg_type = lib.SSL3_MT_CHANGE_CIPHER_SPEC
    elif content_type == lib.SSL3_RT_ALERT and size >= 2:
        msg_type = data[1]
    elif (
        content_type in (lib.SSL3_RT_HANDSHAKE, lib.SSL3_RT_INNER_CONTENT_TYPE)
        and size > 0
    ):
        msg_type = data[0]
    else:
        msg_type = -1
    try:
        callback(
            _python_side(connection),
            "write" if write_p else "read",
            version,
            content_type,
            msg_type,
            data,
        )
    except BaseException as exc:
        _keep_first_error(connection, exc)


def _optional_text(ptr: Any) -> str | None:
    if ptr == ffi.NULL:
        return None
    raw = ffi.string(ptr)
    return raw.decode("utf-8") if raw else None


def _psk_client_result(result: Any) -> tuple[bytes, bytes]:
    """(identity, key) from a PSK client callback's result, taken as the
    stdlib takes it: the identity a str (UTF-8), bytes or None, the key
    bytes."""
    if not isinstance(result, tuple):
        raise TypeError("PSK client callback must return a tuple (identity, psk)")
    if len(result) != 2:
        raise TypeError(f"function takes exactly 2 arguments ({len(result)} given)")
    identity, key = result
    if identity is None:
        identity_bytes = b""
    elif isinstance(identity, str):
        identity_bytes = identity.encode("utf-8")
    else:
        identity_bytes = _read_only_bytes(identity, 1)
    if b"\0" in identity_bytes:
        # OpenSSL sends the identity up to its first NUL: another identity.
        raise ValueError("embedded null character in the PSK identity")
    return identity_bytes, _read_only_bytes(key, 2)


def _read_only_bytes(value: Any, position: int) -> bytes:
    """``value`` if it is bytes; a buffer that could change or must be
    released (bytearray, memoryview) is refused."""
    if isinstance(value, bytes):
        return bytes(value)
    try:
        memoryview(value)
    except TypeError:
        raise TypeError(
            f"a bytes-like object is required, not '{type(value).__name__}'"
        ) from None
    raise TypeError(
        f"argument {position} must be read-only bytes-like object, not {type(value).__name__}"
    )


@ffi.def_extern(error=0)
def pyssl_psk_client_cb(
    ssl_ptr: Any,
    hint: Any,
    identity: Any,
    max_identity_len: int,
    psk: Any,
    max_psk_len: int,
) -> int:
    connection = connection_of(ssl_ptr)
    callback = (
        connection.context._psk_client_callback if connection is not None else None
    )
    if callback is None:
        return 0
    try:
        try:
            hint_text = _optional_text(hint)
        except UnicodeDecodeError:
            # A hint that is not UTF-8 breaks the protocol: refuse quietly.
            return 0
        identity_bytes, key_bytes = _psk_client_result(callback(hint_text))
    except BaseException as exc:
        _keep_first_error(connection, exc)
        raise
    if len(identity_bytes) + 1 > max_identity_len or len(key_bytes) > max_psk_len:
        return 0
    ffi.memmove(identity, identity_bytes + b"\0", len(identity_bytes) + 1)
    ffi.memmove(psk, key_bytes, len(key_bytes))
    return len(key_bytes)


@ffi.def_extern(error=0)
def pyssl_psk_server_cb(ssl_ptr: Any, identity: Any, psk: Any, max_psk_len: int) -> int:
    connection = connection_of(ssl_ptr)
    callback = (
        connection.context._psk_server_callback if connection is not None else None
    )
    if callback is None:
        return 0
    try:
        try:
            identity_text = _optional_text(identity)  # an empty identity is None
        except UnicodeDecodeError:
            return 0
        key = callback(identity_text)
        if not isinstance(key, bytes):
            raise TypeError(f"expected bytes, {type(key).__name__} found")
    except BaseException as exc:
        _keep_first_error(connection, exc)
        raise
    if len(key) > max_psk_len:
        return 0
    ffi.memmove(psk, key, len(key))
    return len(key)
