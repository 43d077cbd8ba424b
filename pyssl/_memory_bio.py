"""MemoryBIO: a buffer of bytes between the TLS layer and the application,
the stdlib's ``_ssl.MemoryBIO``.

The buffer and the methods asyncio calls for every record are C
(``MemoryBIOBase`` in ``_native/fast_paths.h``); this class adds what C
leaves to Python.

docs/internals.md says how this fits with the rest.
"""

from __future__ import annotations

from typing import Any

from pyssl._buffers import readable_buffer
from pyssl._errors import error_from_queue, plain_error
from pyssl._lib import fast_paths, ffi, lib

# BIO_write() takes an int count.
_MAX_WRITE = 0x7FFFFFFF


class MemoryBIO(fast_paths.MemoryBIOBase):
    """A buffer of bytes between the TLS layer and the application.

    The buffer and the methods asyncio calls for every record (read, write,
    pending, eof, write_eof) are C (MemoryBIOBase in _native/fast_paths.h);
    what C does not take goes to _write_full()."""

    __slots__ = ()

    @property
    def bio_ptr(self) -> Any:
        """The BIO, as cdata for the binding. It does not own the BIO: a
        connection using it takes its own reference (pyssl_use_bios)."""
        return ffi.cast("BIO *", self._address)

    def _write_full(self, data: Any) -> int:
        # write() for what C did not take: a buffer the stable ABI cannot
        # reach, an error to report, or a write after write_eof().
        src = data if type(data) is bytes else readable_buffer(data)
        size = len(src)
        try:
            if size > _MAX_WRITE:
                raise OverflowError("string longer than 2147483647 bytes")
            if self._eof_written:
                raise plain_error("cannot write() after write_eof()")
            count = lib.BIO_write(self.bio_ptr, src, size)
            if count < 0:
                raise error_from_queue("MemoryBIO.write")
        finally:
            # The caller's buffer is held only for the call, also when it
            # fails (a traceback keeps this frame).
            if src is not data:
                ffi.release(src)
        return count


MemoryBIO.__module__ = "pyssl"
