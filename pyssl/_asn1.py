"""ASN.1 object identifiers: ``txt2obj``/``nid2obj`` and ``_ASN1Object``."""

from __future__ import annotations

from collections import namedtuple

from pyssl._errors import clear_queue
from pyssl._lib import ffi, lib

# 80 characters hold any dotted OID OpenSSL prints (as in OBJ_obj2txt(3)).
_OID_BUFFER_SIZE = 100


def object_to_tuple(obj) -> tuple[int, str, str, str]:
    """(nid, short name, long name, dotted OID) of an ASN1_OBJECT."""
    nid = lib.OBJ_obj2nid(obj)
    if nid == lib.NID_undef:
        raise ValueError("Unknown object")
    buf = ffi.new("char[]", _OID_BUFFER_SIZE)
    length = lib.OBJ_obj2txt(buf, _OID_BUFFER_SIZE, obj, 1)
    if length < 0:
        raise ValueError("Unknown object")
    return (
        nid,
        ffi.string(lib.OBJ_nid2sn(nid)).decode("ascii"),
        ffi.string(lib.OBJ_nid2ln(nid)).decode("ascii"),
        ffi.string(buf, length).decode("ascii"),
    )


def txt2obj(txt: str, name: bool = False) -> tuple[int, str, str, str]:
    """Look up an object by dotted OID, or also by name when ``name``."""
    if not isinstance(txt, str):
        raise TypeError(
            f"txt2obj() argument 'txt' must be str, not {type(txt).__name__}"
        )
    if "\0" in txt:
        # OpenSSL would read up to the NUL: refused, as the stdlib's "s".
        raise ValueError("embedded null character")
    obj = lib.OBJ_txt2obj(txt.encode("utf-8"), 0 if name else 1)
    if obj == ffi.NULL:
        clear_queue()
        raise ValueError(f"unknown object '{txt:.100}'")
    obj = ffi.gc(obj, lib.ASN1_OBJECT_free)
    return object_to_tuple(obj)


def nid2obj(nid: int) -> tuple[int, str, str, str]:
    """Look up an object by its OpenSSL NID."""
    if nid < lib.NID_undef:
        raise ValueError("NID must be positive.")
    obj = lib.OBJ_nid2obj(nid)
    if obj == ffi.NULL:
        clear_queue()
        raise ValueError(f"unknown NID {nid}")
    return object_to_tuple(obj)


class _ASN1Object(namedtuple("_ASN1Object", "nid shortname longname oid")):
    """ASN.1 object identifier lookup."""

    __slots__ = ()

    def __new__(cls, oid):
        return super().__new__(cls, *txt2obj(oid, name=False))

    @classmethod
    def fromnid(cls, nid):
        """Create _ASN1Object from OpenSSL numeric ID."""
        return super().__new__(cls, *nid2obj(nid))

    @classmethod
    def fromname(cls, name):
        """Create _ASN1Object from short name, long name or OID."""
        return super().__new__(cls, *txt2obj(name, name=True))


_ASN1Object.__module__ = "pyssl"
