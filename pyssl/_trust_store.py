"""CA certificates read once per process and shared by the contexts that
load them: ``cafile``, ``cadata`` and the default file of
``set_default_verify_paths()``. ``capath`` directories stay OpenSSL's
lazy look-up.

Each context still has its own X509_STORE (its own verification
parameters, and what later loads add to it); what it shares is the
immutable X509/X509_CRL objects of a source, which its store holds
references to (``_native/trust_store.h``). A load that the uncached path
would fail is never cached: the caller then runs the uncached load, which
fails in its own words.

A file of plain PEM blocks is read without decoding its certificates; a
context that loads it into an empty store gets each certificate when
verification first asks for its subject, and all of them before anything
reads or adds to the whole store (``materialize()``). docs/performance.md
gives the design and its figures.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from typing import Any

from pyssl._errors import clear_queue, error_from_queue
from pyssl._lib import ffi, lib

# Sources kept, least recently used first out. The system bundle plus a
# few private ones is the common case.
MAX_SOURCES = 16

_lock = threading.Lock()
# key -> (signature, source): a file's key is its path and its signature
# what stat() says of it; cadata's key is a digest of its bytes.
_sources: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()


def _reset_lock() -> None:
    # A thread of the parent may have held the lock at fork().
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock)


def _lookup(key: tuple[Any, ...], signature: Any) -> Any:
    with _lock:
        found = _sources.get(key)
        if found is None or found[0] != signature:
            return None
        _sources.move_to_end(key)
        return found[1]


def _remember(key: tuple[Any, ...], signature: Any, source: Any) -> None:
    evicted = []
    with _lock:
        _sources[key] = (signature, source)
        _sources.move_to_end(key)
        while len(_sources) > MAX_SOURCES:
            evicted.append(_sources.popitem(last=False))
    # Freed here, outside the lock, unless a context is being filled from
    # them right now (it holds its own reference).
    del evicted


def clear() -> None:
    """Forget every source (contexts keep what they loaded)."""
    with _lock:
        dropped = list(_sources.values())
        _sources.clear()
    del dropped


def cached_keys() -> list[tuple[Any, ...]]:
    """The keys of the sources kept, least recently used first."""
    with _lock:
        return list(_sources)


def _file_signature(path: bytes) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _file_source(path: bytes) -> Any:
    """The source of a PEM file, read now if it changed or was never read;
    None where the uncached load would fail."""
    signature = _file_signature(path)
    if signature is None:
        return None
    key = ("file", path)
    source = _lookup(key, signature)
    if source is not None:
        return source
    source = lib.pyssl_trust_read_file(path)
    if source == ffi.NULL:
        clear_queue()
        return None
    source = ffi.gc(source, lib.pyssl_trust_source_free)
    # A file rewritten while it was read is used this once, not kept:
    # its signature may be that of neither version.
    if _file_signature(path) == signature:
        _remember(key, signature, source)
    return source


def _data_source(data: bytes, pem: bool) -> Any:
    key = ("data", pem, hashlib.blake2b(data, digest_size=32).digest())
    source = _lookup(key, None)
    if source is not None:
        return source
    count = ffi.new("int *")
    clear_queue()
    source = lib.pyssl_trust_read_data(data, len(data), pem, count)
    if source != ffi.NULL:
        source = ffi.gc(source, lib.pyssl_trust_source_free)
    # add_ca_certs() fails unless the reading ended at the end of the
    # input: no error, or, for PEM, only the missing next start line.
    last = lib.ERR_peek_last_error()
    ended = not last or (
        pem
        and (lib.ERR_GET_LIB(last), lib.ERR_GET_REASON(last))
        == (lib.ERR_LIB_PEM, lib.PEM_R_NO_START_LINE)
    )
    clear_queue()
    if source == ffi.NULL or not ended:
        return None
    _remember(key, None, source)
    return source


def set_lazy(lazy: bool) -> None:
    """Read files lazily where the platform allows (the default), or
    always eagerly; sources already kept stay as they were read."""
    lib.pyssl_trust_set_lazy(bool(lazy))


def is_lazy(source: Any) -> bool:
    return bool(lib.pyssl_trust_source_is_lazy(source))


def materialize(ctx_ptr: Any) -> None:
    """Put every object of the context's lazily read file into its store,
    as the eager load has it: before anything reads the whole store or
    adds to it."""
    if lib.pyssl_trust_pending(ctx_ptr) and not lib.pyssl_trust_materialize(ctx_ptr):
        raise MemoryError()


def _fill(fill: Any, ctx_ptr: Any, source: Any, *arguments: Any) -> int:
    """``fill(ctx_ptr, source, *arguments)``, decoding the source first when
    it must go into the store eagerly."""
    materialize(ctx_ptr)
    clear_queue()
    done = fill(ctx_ptr, source, *arguments)
    if done < 0:
        if not lib.pyssl_trust_source_decode(source):
            raise MemoryError()
        done = fill(ctx_ptr, source, *arguments)
    return done


def load_file(ctx_ptr: Any, path: bytes) -> bool:
    """``load_verify_locations(cafile=path)`` from the file's source: True
    when done, False when the caller must run the uncached load."""
    source = _file_source(path)
    if source is None:
        return False
    if not _fill(lib.pyssl_trust_fill, ctx_ptr, source, 0):
        raise error_from_queue("load_verify_locations")
    return True


def add_data(ctx_ptr: Any, data: Any, pem: bool) -> bool:
    """``load_verify_locations(cadata=...)`` from its source, ``data`` the
    caller's buffer (not empty): True when done, False when the caller must
    run the uncached load."""
    # A copy: the caller's buffer could change while it is read with the
    # GIL released, and the digest must name what was read.
    source = _data_source(bytes(ffi.buffer(data)), pem)
    if source is None:
        return False
    if not _fill(lib.pyssl_trust_fill, ctx_ptr, source, 1):
        raise error_from_queue("load_verify_locations")
    return True


def set_default_verify_paths(ctx_ptr: Any) -> bool:
    """``set_default_verify_paths()`` with the default file from its source
    (the file and directory resolved now, as OpenSSL resolves them): True
    when done, False when the caller must run the uncached call."""
    source = _file_source(ffi.string(lib.pyssl_trust_default_file()))
    if source is None:
        materialize(ctx_ptr)
        return False
    if not _fill(lib.pyssl_trust_set_default_paths, ctx_ptr, source):
        raise error_from_queue("set_default_verify_paths")
    return True
