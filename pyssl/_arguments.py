"""Arguments converted as the C ``_ssl`` module converts them.

The stdlib's setters and constructors take their numbers through CPython's
argument converters (``PyArg_Parse`` formats, Argument Clinic), so a wrong
type or an out-of-range value raises a particular ``TypeError`` or
``OverflowError`` before any check of the value itself. These helpers give
the same exceptions, so that pyssl fails where and how the stdlib fails;
``exact_address`` is where pyssl reads an argument more strictly than the
stdlib, and says why.
"""

from __future__ import annotations

import operator
from typing import Any

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_ULONG_MASK = 2**64 - 1


def type_name(value: Any) -> str:
    """The type as CPython's argument errors name it ("None" for None)."""
    return "None" if value is None else type(value).__name__


def as_c_long(value: Any) -> int:
    """The ``"l"`` format: any ``__index__`` object within a C long."""
    number = operator.index(value)
    if not _LONG_MIN <= number <= _LONG_MAX:
        raise OverflowError("Python int too large to convert to C long")
    return number


def as_c_int(value: Any) -> int:
    """The ``"i"`` format of ``PyArg_Parse``: a C long, then range-checked."""
    number = as_c_long(value)
    if number > _INT_MAX:
        raise OverflowError("signed integer is greater than maximum")
    if number < _INT_MIN:
        raise OverflowError("signed integer is less than minimum")
    return number


def as_clinic_int(value: Any) -> int:
    """An Argument Clinic ``int`` parameter (``_PyLong_AsInt``)."""
    number = operator.index(value)
    if not _INT_MIN <= number <= _INT_MAX:
        raise OverflowError("Python int too large to convert to C int")
    return number


def as_clinic_str(value: Any, function: str) -> bytes:
    """An Argument Clinic ``str`` parameter, the only positional one of
    ``function``: a str without NUL, as the UTF-8 bytes C receives."""
    if not isinstance(value, str):
        raise TypeError(f"{function}() argument must be str, not {type_name(value)}")
    if "\0" in value:
        raise ValueError("embedded null character")
    return value.encode("utf-8")


def _require_int(value: Any) -> int:
    # The "k" and "O!" formats take int (and its subclasses) only.
    if not isinstance(value, int):
        raise TypeError(f"argument must be int, not {type_name(value)}")
    return int(value)


def as_unsigned_long_mask(value: Any) -> int:
    """The ``"k"`` format: an int, wrapped modulo 2**64 without a check."""
    return _require_int(value) & _ULONG_MASK


def as_unsigned_long_long(value: Any) -> int:
    """An int converted with ``PyLong_AsUnsignedLongLong``."""
    number = _require_int(value)
    if number < 0:
        raise OverflowError("can't convert negative int to unsigned")
    if number > _ULONG_MASK:
        raise OverflowError("int too big to convert")
    return number


def as_c_double(value: Any) -> float:
    """An Argument Clinic ``double`` (``PyFloat_AsDouble``): a float, or
    an object with ``__float__`` or ``__index__``; not a str."""
    if type(value) is float:
        return value
    if hasattr(type(value), "__float__") or hasattr(type(value), "__index__"):
        return float(value)
    raise TypeError(f"must be real number, not {type(value).__name__}")


def idna_hostname(name: str) -> str:
    """``name.encode("idna").decode("ascii")``, as the stdlib encodes a
    server_hostname. The codec is Python code (half a microsecond a name,
    on every client connection); an ASCII name shorter than 64 characters
    without an empty label is one it returns unchanged, so only other
    names are given to it, and fail with its own exceptions."""
    if (
        name.isascii()
        and len(name) < 64
        and ".." not in name
        and not name.startswith(".")
    ):
        return name
    return name.encode("idna").decode("ascii")


# What an IP address is written with; a name with any other character is a
# host name, told without the cost of ipaddress's exceptions.
_ADDRESS_CHARACTERS = "0123456789abcdefABCDEF.:"


def exact_address(name: str) -> bytes | None:
    """The packed address when ``name`` is exactly an IPv4 or IPv6 address
    (no zone: a certificate cannot name one), else None: a host name.

    OpenSSL's a2i_IPADDRESS(), which the stdlib asks, reads an address at
    the start of the text and ignores what follows a space or a tab, and
    takes leading zeros, signs and leading white space: "127.0.0.1\tx" or
    "0127.0.0.1" would then verify against a certificate for 127.0.0.1.
    ipaddress takes only an address, written out."""
    if name.strip(_ADDRESS_CHARACTERS):
        return None
    import ipaddress  # only for names made of address characters

    try:
        return ipaddress.ip_address(name).packed
    except ValueError:
        return None
