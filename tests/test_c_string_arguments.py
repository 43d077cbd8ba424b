"""Arguments that reach OpenSSL as C strings or C counts: a NUL the C
string would end at, or a length an int cannot count, is refused or
handled as the stdlib does, never silently cut.

(Host names, cipher strings, curve names and paths: test_errors.py and
the tests of each setting; PSK identities and hints: test_psk.py.)"""

from __future__ import annotations

import mmap

import pytest

import pyssl
import pyssl._functions as functions
from pyssl._lib import ffi

INT_MAX = 2**31 - 1


@pytest.mark.parametrize("lookup", ["_ASN1Object", "fromname", "txt2obj"])
def test_an_object_name_with_a_nul_is_refused(either, lookup):
    make = {
        "_ASN1Object": either._ASN1Object,
        "fromname": either._ASN1Object.fromname,
        "txt2obj": lambda text: either._ssl.txt2obj(text, True),
    }[lookup]
    text = "serverAuth\0junk" if lookup != "_ASN1Object" else "1.3.6.1.5.5.7.3.1\0junk"
    with pytest.raises(ValueError) as info:
        make(text)
    assert str(info.value) == "embedded null character"
    # Without the NUL the same lookups succeed.
    assert make(text.partition("\0")[0])[0] == 129


def untouched_mapping(size):
    try:
        # Anonymous and never written: address space, not memory.
        return mmap.mmap(-1, size)
    except (OSError, OverflowError, MemoryError) as exc:
        pytest.skip(f"cannot map {size} bytes here: {exc}")


def test_rand_add_feeds_more_than_an_int_counts_in_pieces(monkeypatch):
    """RAND_add() takes an int count: a longer buffer goes in pieces that
    cover it exactly, in order, as the stdlib feeds it."""
    calls = []
    monkeypatch.setattr(
        functions,
        "_RAND_add",
        lambda data, size, entropy: calls.append(
            (int(ffi.cast("uintptr_t", data)), size, entropy)
        ),
    )
    with untouched_mapping(2**31 + 1) as big:
        pyssl.RAND_add(big, 2)
        with ffi.from_buffer(big) as data:
            start = int(ffi.cast("uintptr_t", data))
    assert calls == [(start, INT_MAX, 2.0), (start + INT_MAX, 2, 2.0)]
    calls.clear()
    pyssl.RAND_add(b"", 0.5)  # one call, as the stdlib makes
    assert [(size, entropy) for _, size, entropy in calls] == [(0, 0.5)]


def test_slow_rand_add_of_more_than_an_int_counts():
    """Slow (OpenSSL reads 2 GiB, some seconds): the real call."""
    with untouched_mapping(2**31 + 1) as big:
        if hasattr(mmap, "MADV_HUGEPAGE"):
            big.madvise(mmap.MADV_HUGEPAGE)  # fewer page faults reading it
        assert pyssl.RAND_add(big, 0.0) is None


@pytest.mark.parametrize(
    "entropy, error",
    [
        ("1.5", "must be real number, not str"),
        (None, "must be real number, not NoneType"),
    ],
)
def test_rand_add_entropy_is_a_number(either, entropy, error):
    with pytest.raises(TypeError) as info:
        either.RAND_add(b"seed", entropy)
    assert str(info.value) == error
