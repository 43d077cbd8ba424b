"""The Python side of the OpenSSL callbacks declared ``extern "Python"``.

A callback must never let an exception escape into OpenSSL. Each one
stores what it raised on the object it serves, and the Python code that
made the OpenSSL call re-raises it once the call returns.

OpenSSL hands callbacks a ``void *``. For long-lived objects (contexts,
connections) that pointer is a plain integer key into a table of weak
references, so no reference cycle and no ``ffi.new_handle`` is kept on the
object itself; short-lived helpers (a password source during one load
call) travel as ``ffi.new_handle``.
"""

from __future__ import annotations

import itertools
import weakref
from typing import Any, Callable

from pyssl._lib import ffi, lib

_objects: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_keys = itertools.count(1)


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
            self._value = _password_bytes(password, "password should be a string or callable")

    def read(self, size: int) -> bytes:
        if self._callable is not None:
            value = _password_bytes(self._callable(), "password callback must return a string")
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
