"""Byte counts of reads and writes, from OpenSSL's size_t to Python's int:
as wide as a size_t all the way (the stdlib's Py_ssize_t), never a C long,
which is narrower on 64-bit Windows: a large write would be reported as a
failure after it went out, or its count would wrap and sendall() send data
twice. Writing that much in a test takes too long: these check the types
every step declares, and that they carry a count beyond 32 bits."""

from __future__ import annotations

import pytest

import pyssl
from pyssl import _fast_paths as fast
from pyssl._lib import ffi, lib

HELPERS = ["pyssl_read", "pyssl_write", "pyssl_read_in_memory", "pyssl_write_in_memory"]
BEYOND_32_BITS = 2**32 + 5


@pytest.mark.parametrize("helper", HELPERS)
def test_the_helpers_count_in_ssize_t(helper):
    signature = ffi.typeof(getattr(lib, helper))
    assert signature.result is ffi.typeof("ssize_t")
    assert signature.args[2] is ffi.typeof("size_t")
    assert ffi.sizeof(signature.result) == ffi.sizeof("size_t") == ffi.sizeof("void *")
    # What the helper returns reaches Python whole, both ways.
    for count in (BEYOND_32_BITS, -BEYOND_32_BITS):
        assert int(ffi.cast(signature.result, count)) == count


def test_the_io_state_keeps_a_size_t_count():
    assert dict(ffi.typeof("pyssl_io").fields)["count"].type is ffi.typeof("size_t")
    io = ffi.new("pyssl_io *")
    io.count = 2**64 - 1
    assert io.count == 2**64 - 1
    io.count = BEYOND_32_BITS
    assert io.count == BEYOND_32_BITS


def test_the_fast_paths_return_the_helpers_result(certs):
    """A write on a client that has not shaken hands yet: the helper's
    negative result (minus WANT_READ, with the flag of the handshake it
    started) comes back as the same int, and through cffi's wrapper alike."""
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.ca)
    connection = ctx._wrap_bio(pyssl.MemoryBIO(), pyssl.MemoryBIO(), False, "localhost")
    started = -(lib.SSL_ERROR_WANT_READ | lib.PYSSL_HANDSHAKE_SEEN)
    assert fast.ssl_write(connection._io_address, b"x", False) == started
    assert (
        lib.pyssl_write_in_memory(connection._write_io, b"x", 1)
        == -lib.SSL_ERROR_WANT_READ
    )
