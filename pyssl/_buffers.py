"""Scratch memory for the bytes pyssl copies out of OpenSSL.

``read(n)`` without a buffer returns new ``bytes`` whose size is known only
once OpenSSL has decrypted the record. Its first call (``ssl_read`` in
``_native/fast_paths.h``) fills a buffer on the C stack. A read that has to
wait and retry (a socket with a timeout) goes on through cffi, which can
only make bytes by copying from C memory: OpenSSL fills a scratch buffer, a
slice of which then becomes the bytes. One scratch buffer per thread,
reused, keeps that cheap: no allocation per call, memory that stays in the
CPU's caches, and none held per connection. Each user copies the bytes out
right after the C call that filled it, before any other Python code in the
thread can use the buffer again (callbacks that OpenSSL runs during a read
come before it copies the record's plaintext).

``readable_buffer`` is how every write takes a bytes-like object that is not
``bytes``.
"""

from __future__ import annotations

import threading
from typing import Any

from pyssl._lib import ffi, lib

# Filled by OpenSSL before it is read: no need to zero it.
new_uninitialised = ffi.new_allocator(should_clear_after_alloc=False)

# Enough for any record's plaintext (16 KiB), with room to spare.
SCRATCH_SIZE = 64 * 1024

# local.scratch: this thread's (char[], ffi.buffer), made by new_scratch().
local = threading.local()

# Those bytes live briefly: keep glibc from unmapping and mapping the heap
# under them all the time (see pyssl_settle_allocator in helpers.h).
lib.pyssl_settle_allocator()


def new_scratch() -> tuple[Any, Any]:
    """This thread's scratch buffer, made on its first use: (``char[]``,
    ``ffi.buffer`` over it); slicing the second is the quickest way cffi
    has to make bytes. Users take ``local.scratch`` and call this on
    AttributeError."""
    buf = new_uninitialised("char[]", SCRATCH_SIZE)
    scratch = local.scratch = (buf, ffi.buffer(buf))
    return scratch


def readable_buffer(data: Any) -> Any:
    """``data``, a bytes-like object, as a cdata cffi passes to C without
    copying (release it with ``ffi.release``); the stdlib's TypeError for
    anything else."""
    try:
        return ffi.from_buffer(data)
    except TypeError:
        raise TypeError(
            f"a bytes-like object is required, not '{type(data).__name__}'"
        ) from None
