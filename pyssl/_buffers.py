"""Scratch memory for the bytes pyssl copies out of OpenSSL.

``read(n)`` without a buffer and ``MemoryBIO.read()`` return new ``bytes``.
cffi can only make those by copying from C memory, so OpenSSL first fills
a scratch buffer, a slice of which then becomes the bytes. One scratch
buffer per thread, reused, keeps that cheap: no allocation per call, memory
that stays in the CPU's caches, and none held per connection. Each user copies the
bytes out right after the C call that filled it, before any other Python
code in the thread can use the buffer again (callbacks that OpenSSL runs
during a read come before it copies the record's plaintext).
"""

from __future__ import annotations

import threading
from typing import Any

from pyssl._lib import ffi, lib

# Filled by OpenSSL before it is read: no need to zero it.
new_uninitialised = ffi.new_allocator(should_clear_after_alloc=False)

# Enough for any record's plaintext (16 KiB) and most flights of records.
SCRATCH_SIZE = 64 * 1024
# A larger buffer, once needed, is kept up to this size.
SCRATCH_MAX = 1024 * 1024

# local.scratch: this thread's (char[], ffi.buffer), made by new_scratch().
local = threading.local()

# Those bytes live briefly: keep glibc from unmapping and mapping the heap
# under them all the time (see pyssl_settle_allocator in helpers.h).
lib.pyssl_settle_allocator()


def new_scratch(size: int = SCRATCH_SIZE) -> tuple[Any, Any]:
    """A scratch buffer of ``size`` bytes for this thread, as (``char[]``,
    ``ffi.buffer`` over it): slicing the second is the quickest way cffi
    has to make bytes. Kept as the thread's buffer unless it is larger
    than SCRATCH_MAX. Users take ``local.scratch`` and call this on
    AttributeError (the first use in a thread) or when they need more."""
    buf = new_uninitialised("char[]", size)
    pair = (buf, ffi.buffer(buf))
    if size <= SCRATCH_MAX:
        local.scratch = pair
    return pair
