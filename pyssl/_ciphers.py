"""Cipher descriptions in the stdlib's shapes (``cipher()``, ``get_ciphers()``)."""

from __future__ import annotations

from typing import Any

from pyssl._lib import ffi, lib

# SSL_CIPHER_description(3) writes at most 128 bytes.
_DESCRIPTION_SIZE = 256


def _text(ptr: Any) -> str | None:
    return ffi.string(ptr).decode("ascii") if ptr != ffi.NULL else None


def _nid_long_name(nid: int) -> str | None:
    return None if nid == lib.NID_undef else _text(lib.OBJ_nid2ln(nid))


def cipher_to_tuple(cipher: Any) -> tuple[str | None, str | None, int]:
    """(name, protocol version, secret bits), as ``SSLSocket.cipher()``."""
    return (
        _text(lib.SSL_CIPHER_get_name(cipher)),
        _text(lib.SSL_CIPHER_get_version(cipher)),
        lib.SSL_CIPHER_get_bits(cipher, ffi.NULL),
    )


def cipher_to_dict(cipher: Any) -> dict[str, Any]:
    """One entry of ``SSLContext.get_ciphers()``."""
    buf = ffi.new("char[]", _DESCRIPTION_SIZE)
    lib.SSL_CIPHER_description(cipher, buf, _DESCRIPTION_SIZE - 1)
    description = ffi.string(buf).decode("ascii")
    if description.endswith("\n"):
        description = description[:-1]
    alg_bits = ffi.new("int *")
    strength_bits = lib.SSL_CIPHER_get_bits(cipher, alg_bits)
    return {
        "id": lib.SSL_CIPHER_get_id(cipher),
        "name": _text(lib.SSL_CIPHER_get_name(cipher)),
        "protocol": _text(lib.SSL_CIPHER_get_version(cipher)),
        "description": description,
        "strength_bits": strength_bits,
        "alg_bits": alg_bits[0],
        "aead": bool(lib.SSL_CIPHER_is_aead(cipher)),
        "symmetric": _nid_long_name(lib.SSL_CIPHER_get_cipher_nid(cipher)),
        "digest": _nid_long_name(lib.SSL_CIPHER_get_digest_nid(cipher)),
        "kea": _nid_long_name(lib.SSL_CIPHER_get_kx_nid(cipher)),
        "auth": _nid_long_name(lib.SSL_CIPHER_get_auth_nid(cipher)),
    }


def cipher_list(stack: Any) -> list[Any]:
    """The SSL_CIPHER pointers of a STACK_OF(SSL_CIPHER)."""
    if stack == ffi.NULL:
        return []
    return [
        lib.sk_SSL_CIPHER_value(stack, i) for i in range(lib.sk_SSL_CIPHER_num(stack))
    ]
