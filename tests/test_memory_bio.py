"""MemoryBIO: the byte buffer under SSLObject, read and written by the
application. Each test runs against pyssl and the stdlib (``either``)."""

from __future__ import annotations

import os
import random
import sys
import threading
import warnings

import pytest
from peers import BioPair, client_context, server_context

import pyssl


def test_read_returns_everything_pending_by_default(either):
    bio = either.MemoryBIO()
    assert bio.write(b"abc") == 3
    assert bio.write(bytearray(b"def")) == 3
    assert bio.pending == 6
    data = bio.read()
    assert data == b"abcdef" and type(data) is bytes
    assert bio.pending == 0


@pytest.mark.parametrize(
    "size, first, rest",
    [
        (2, b"ab", b"cdef"),
        (6, b"abcdef", b""),
        (100, b"abcdef", b""),
        (0, b"", b"abcdef"),
        (-1, b"abcdef", b""),
        (-7, b"abcdef", b""),
    ],
)
def test_read_takes_at_most_size_bytes(either, size, first, rest):
    bio = either.MemoryBIO()
    bio.write(b"abcdef")
    assert bio.read(size) == first
    assert bio.read() == rest


def test_read_of_an_empty_buffer_is_empty_bytes_until_and_after_eof(either):
    bio = either.MemoryBIO()
    assert bio.read() == b"" and bio.read(10) == b""
    assert not bio.eof
    bio.write(b"x")
    bio.write_eof()
    assert not bio.eof  # one byte is still to be read
    assert bio.read() == b"x"
    assert bio.eof
    assert bio.read() == b""


@pytest.mark.parametrize("size", [1.0, -1.0, "3", None, b"1"])
def test_read_size_must_be_an_integer(either, size):
    bio = either.MemoryBIO()
    bio.write(b"abc")
    with pytest.raises(TypeError):
        bio.read(size)
    assert bio.pending == 3  # nothing was taken


def test_read_size_may_be_an_index(either):
    class Two:
        def __index__(self):
            return 2

    bio = either.MemoryBIO()
    bio.write(b"abc")
    assert bio.read(Two()) == b"ab"


def test_a_read_larger_than_any_record_comes_whole(either):
    # asyncio reads all that is pending, 64 KiB and more at a time.
    data = os.urandom(300 * 1024)
    bio = either.MemoryBIO()
    for start in range(0, len(data), 16 * 1024):
        bio.write(data[start : start + 16 * 1024])
    assert bio.read() == data
    bio.write(b"after")
    assert bio.read() == b"after"


def test_interleaved_writes_and_reads_keep_every_byte_once_and_in_order(either):
    # Reads of every size between writes of every size, against a model:
    # a read that left bytes behind or skipped some shows here.
    rng = random.Random(7)
    bio = either.MemoryBIO()
    sent, received = bytearray(), bytearray()
    for _ in range(400):
        if rng.random() < 0.5:
            data = rng.randbytes(
                rng.choice([0, 1, 5, 100, 4095, 4097, 16 * 1024, 70 * 1024])
            )
            assert bio.write(data) == len(data)
            sent += data
        else:
            size = rng.choice([-1, 0, 1, 3, 4096, 20000, 10**6])
            chunk = bio.read(size) if size != -1 else bio.read()
            assert type(chunk) is bytes
            received += chunk
        assert bio.pending == len(sent) - len(received)
    received += bio.read()
    assert received == sent


def test_a_thread_reading_while_another_writes_gets_every_byte_in_order(either):
    # One thread drains the BIO while another fills it (as a thread writing
    # application data fills an SSLObject's outgoing BIO): each read and
    # write is whole, whatever thread switch falls between two calls.
    rng = random.Random(11)
    chunks = [
        rng.randbytes(rng.choice([1, 300, 5000, 17000, 70000])) for _ in range(300)
    ]
    expected = b"".join(chunks)
    bio = either.MemoryBIO()
    received = bytearray()

    def write_all():
        for chunk in chunks:
            bio.write(chunk)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        writer = threading.Thread(target=write_all)
        writer.start()
        while len(received) < len(expected) and (writer.is_alive() or bio.pending):
            received += bio.read()
        writer.join(30)
        received += bio.read()
    finally:
        sys.setswitchinterval(interval)
    assert not writer.is_alive()
    assert received == expected


def test_bytes_read_stay_valid_after_later_reads(either):
    # The bytes returned are the caller's: later reads must not change them.
    bio = either.MemoryBIO()
    bio.write(b"first")
    first = bio.read()
    bio.write(b"SECOND")
    second = bio.read()
    assert (first, second) == (b"first", b"SECOND")


@pytest.mark.parametrize(
    "data",
    [
        b"xyz",
        bytearray(b"xyz"),
        memoryview(b"xyz"),
        memoryview(b"..xyz..")[2:5],
    ],
)
def test_write_takes_bytes_like_objects(either, data):
    bio = either.MemoryBIO()
    assert bio.write(data) == 3
    assert bio.read() == b"xyz"


@pytest.mark.parametrize("data", ["text", 3, None, [1, 2]])
def test_write_refuses_what_is_not_bytes_like(either, data):
    bio = either.MemoryBIO()
    with pytest.raises(TypeError, match="bytes-like object is required"):
        bio.write(data)
    assert bio.pending == 0


def test_write_refuses_a_buffer_that_is_not_contiguous(either):
    bio = either.MemoryBIO()
    with pytest.raises(BufferError):
        bio.write(memoryview(b"x.y.z")[::2])
    assert bio.write(memoryview(bytearray(b"abcd")).cast("B", (2, 2))) == 4
    assert bio.read() == b"abcd"


def test_memory_bio_takes_no_arguments_and_reads_take_no_keywords(either):
    with pytest.raises(TypeError):
        either.MemoryBIO(1)
    with pytest.raises(TypeError):
        either.MemoryBIO(size=1)
    bio = either.MemoryBIO()
    bio.write(b"ab")
    with pytest.raises(TypeError, match="keyword"):
        bio.read(size=1)
    with pytest.raises(TypeError):
        bio.read(1, 2)
    with pytest.raises(TypeError):
        bio.write()
    assert bio.read(1) == b"a"


def test_write_leaves_the_callers_buffer_free(either):
    buffer = bytearray(b"abc")
    bio = either.MemoryBIO()
    bio.write(buffer)
    buffer.extend(b"def")  # no export left behind: a bytearray can grow
    assert bio.read() == b"abc"


def test_write_after_write_eof_is_an_ssl_error(either):
    bio = either.MemoryBIO()
    bio.write(b"a")
    bio.write_eof()
    for data in (b"more", b"", bytearray(b"x"), memoryview(b"yz")):
        with pytest.raises(either.SSLError, match="write_eof"):
            bio.write(data)
    assert bio.read() == b"a"
    assert bio.eof


def test_each_thread_reads_its_own_bytes(either):
    # Reads in several threads at once, each from its own buffer.
    errors = []

    def reader(tag: bytes) -> None:
        bio = either.MemoryBIO()
        try:
            for i in range(2000):
                payload = tag * (1 + i % 700)
                bio.write(payload)
                if bio.read() != payload:
                    errors.append(tag)
                    return
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=reader, args=(bytes([65 + n]),)) for n in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


def test_wrap_bio_takes_two_memory_bios(either):
    context = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(TypeError, match="incoming"):
        context.wrap_bio(b"", either.MemoryBIO())
    with pytest.raises(TypeError, match="outgoing"):
        context.wrap_bio(either.MemoryBIO(), None)


def test_a_client_without_a_name_to_check_refuses_the_server(either, certs):
    """A client wrap_bio() without server_hostname while check_hostname is
    set: the stdlib's handshake checks no host name and succeeds; pyssl's
    fails at the server's certificate, as a host name mismatch."""
    client_ctx = client_context(either, certs)
    pair = BioPair(client_ctx, server_context(either, certs), server_hostname=None)
    assert pair.client.server_hostname is None
    if either is not pyssl:
        pair.handshake()
        assert pair.client.getpeercert()
        return
    with pytest.raises(pyssl.SSLCertVerificationError) as info:
        pair.handshake()
    assert info.value.verify_code == 62  # X509_V_ERR_HOSTNAME_MISMATCH
    assert info.value.verify_message == (
        "Hostname mismatch: check_hostname is set and no server_hostname was given."
    )


def test_a_client_without_a_name_to_check_resumes_no_session(certs):
    """A session verified for a name does not let a client without one skip
    the verification that refuses it."""
    client_ctx = client_context(pyssl, certs)
    client_ctx.maximum_version = pyssl.TLSVersion.TLSv1_2
    server_ctx = server_context(pyssl, certs)
    named = BioPair(client_ctx, server_ctx).handshake()
    session = named.client.session
    assert session is not None
    unnamed = BioPair(client_ctx, server_ctx, server_hostname=None, session=session)
    with pytest.raises(pyssl.SSLCertVerificationError):
        unnamed.handshake()
    assert not unnamed.client.session_reused


def test_a_client_without_a_name_connects_once_names_are_not_checked(either, certs):
    client_ctx = client_context(either, certs, check_hostname=False)
    pair = BioPair(client_ctx, server_context(either, certs), server_hostname=None)
    pair.handshake()
    assert pair.client.getpeercert()


def resident_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def under_address_sanitizer():
    import ctypes

    return hasattr(ctypes.CDLL(None), "__asan_init")


@pytest.mark.skipif(
    not os.path.exists("/proc/self/statm"), reason="reads /proc/self/statm"
)
@pytest.mark.skipif(
    under_address_sanitizer(), reason="AddressSanitizer keeps what is freed a while"
)
def test_one_memory_bio_for_both_directions_is_freed_with_the_connection():
    """wrap_bio(bio, bio): the connection holds one reference to the BIO,
    not two, and both go with it. Each BIO carries a MiB: were it kept,
    the process would grow by as much per connection."""
    import gc

    context = pyssl.SSLContext(pyssl.PROTOCOL_TLS_SERVER)
    block = bytes(1 << 20)

    def connection_over_one_bio():
        bio = pyssl.MemoryBIO()
        bio.write(block)
        context.wrap_bio(bio, bio, server_side=True)

    for _ in range(8):  # the allocator's own growth first
        connection_over_one_bio()
    gc.collect()
    before = resident_kib()
    for _ in range(64):
        connection_over_one_bio()
    gc.collect()
    assert resident_kib() - before < 16 * 1024


@pytest.mark.parametrize("server_side", [False, True])
def test_a_context_for_one_side_refuses_the_other(either, server_side):
    made_for = either.PROTOCOL_TLS_CLIENT if server_side else either.PROTOCOL_TLS_SERVER
    context = either.SSLContext(made_for)
    message = (
        "Cannot create a server socket with a PROTOCOL_TLS_CLIENT context"
        if server_side
        else "Cannot create a client socket with a PROTOCOL_TLS_SERVER context"
    )
    with pytest.raises(either.SSLError, match=message):
        context.wrap_bio(
            either.MemoryBIO(), either.MemoryBIO(), server_side=server_side
        )
    # The side-neutral protocol takes both.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        neutral = either.SSLContext(either.PROTOCOL_TLS)
    neutral.wrap_bio(either.MemoryBIO(), either.MemoryBIO(), server_side=server_side)


def test_the_fast_paths_refuse_arguments_of_the_wrong_kind():
    # pyssl._fast_paths is private, but a wrong argument must still be an
    # exception, never a crash: each checks its arguments' count and types.
    import pyssl
    from pyssl import _fast_paths as fast

    bio = pyssl.MemoryBIO()
    address = bio._address
    with pytest.raises(TypeError):
        fast.ssl_read("not an address", 1, False)
    with pytest.raises(TypeError):
        fast.ssl_read(address, 1)
    with pytest.raises(TypeError):
        fast.ssl_write(address, memoryview(b"x"), False)
    with pytest.raises(ValueError):
        fast.ssl_read(address, 0, False)
    if hasattr(fast, "ssl_read_into"):  # built for CPython 3.11's stable ABI
        with pytest.raises(TypeError):
            fast.ssl_read_into(address, bytearray(1), 1)
        with pytest.raises(TypeError):
            fast.ssl_read_into("not an address", bytearray(1), 1, False)
        with pytest.raises(TypeError):
            fast.ssl_read_into(address, bytearray(1), "one", False)
        # Not a writable buffer: None, nothing raised and nothing read (the
        # caller raises the stdlib's TypeError).
        assert fast.ssl_read_into(address, b"read-only", 1, False) is None


@pytest.mark.parametrize("address, error", [(0, ValueError), (2**64, OverflowError)])
def test_the_fast_paths_refuse_an_address_that_is_none(address, error):
    # An exception set, not a NULL return without one (SystemError).
    from pyssl import _fast_paths as fast

    calls = [(fast.ssl_read, 1, False), (fast.ssl_write, b"x", False)]
    if hasattr(fast, "ssl_read_into"):
        calls.append((fast.ssl_read_into, bytearray(1), 1, False))
    for function, *args in calls:
        with pytest.raises(error) as info:
            function(address, *args)
        if error is ValueError:
            assert str(info.value) == f"{function.__name__}() takes a non-null address"


def test_sslobject_reads_come_a_record_at_a_time_and_whole(certs, either):
    # asyncio reads up to 256 KiB at a time: each read gives one record's
    # application data, or what is left of it after a shorter read.
    from peers import BioPair, client_context, server_context

    pair = BioPair(
        client_context(either, certs), server_context(either, certs)
    ).handshake()
    data = os.urandom(40 * 1024)
    pair.server.write(data[:10])  # a short record with more arrived behind it
    pair.server.write(data[10:])  # two full records and a shorter one
    pair._move()
    reads = [pair.client.read(256 * 1024) for _ in range(2)]
    reads += [
        pair.client.read(100),
        pair.client.read(256 * 1024),
        pair.client.read(256 * 1024),
    ]
    assert [len(r) for r in reads] == [10, 16384, 100, 16284, 8182]
    assert all(type(r) is bytes for r in reads)
    assert b"".join(reads) == data
    with pytest.raises(either.SSLWantReadError):
        pair.client.read(256 * 1024)


def test_a_connection_keeps_its_buffers_after_the_memory_bios_are_gone(certs, either):
    import gc

    from peers import client_context

    incoming, outgoing = either.MemoryBIO(), either.MemoryBIO()
    client = client_context(either, certs).wrap_bio(
        incoming, outgoing, server_hostname="localhost"
    )
    del incoming
    gc.collect()
    with pytest.raises(either.SSLWantReadError):
        client.do_handshake()
    hello = outgoing.read()
    assert hello[:1] == b"\x16"  # a handshake record: the ClientHello
    del outgoing
    gc.collect()
    with pytest.raises(either.SSLWantReadError):
        client.do_handshake()  # reads from, and writes to, buffers no one else holds


def test_a_subclass_of_memory_bio_serves_a_connection(certs):
    from peers import BioPair, client_context, server_context

    import pyssl

    class CountingBIO(pyssl.MemoryBIO):
        __slots__ = ("writes",)

        def write(self, data):
            self.writes = getattr(self, "writes", 0) + 1
            return super().write(data)

    pair = BioPair(client_context(pyssl, certs), server_context(pyssl, certs))
    pair._client_bios = (CountingBIO(), CountingBIO())
    pair.client = client_context(pyssl, certs).wrap_bio(
        *pair._client_bios, server_hostname="localhost"
    )
    pair.handshake()
    assert pair._client_bios[0].writes >= 1
    assert isinstance(pair._client_bios[0], pyssl.MemoryBIO)


@pytest.mark.parametrize("size", [2**31, 2**32 - 1])
def test_a_write_beyond_what_an_int_counts_is_an_overflow_error(either, size):
    import mmap

    try:
        # Anonymous and never touched: address space, not memory.
        big = mmap.mmap(-1, size)
    except (OSError, OverflowError, MemoryError) as exc:
        pytest.skip(f"cannot map {size} bytes here: {exc}")
    with big:
        bio = either.MemoryBIO()
        with pytest.raises(OverflowError):
            bio.write(big)
        assert bio.pending == 0
