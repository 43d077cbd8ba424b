"""Throwaway self-signed certificates for demos and benchmarks (not tests:
the test suite makes a proper CA with trustme)."""

from __future__ import annotations

import os
import tempfile

from pyssl._errors import clear_queue, error_from_queue
from pyssl._lib import ffi, lib


def self_signed_pem(key_type: str = "ec", common_name: str = "localhost") -> bytes:
    """A new private key and a self-signed certificate for ``common_name``,
    PEM-encoded (key first). ``key_type`` is ``"ec"`` (P-256) or ``"rsa"``."""
    if key_type not in ("ec", "rsa"):
        raise ValueError(f"key_type must be 'ec' or 'rsa', not {key_type!r}")
    bio = ffi.gc(lib.BIO_new(lib.BIO_s_mem()), lib.BIO_free)
    clear_queue()
    if not lib.pyssl_make_self_signed(
        key_type.encode(), common_name.encode("utf-8"), bio
    ):
        raise error_from_queue("self_signed_pem")
    data = ffi.new("char **")
    size = lib.BIO_get_mem_data(bio, data)
    return ffi.unpack(data[0], size)


def write_self_signed(
    directory: str, key_type: str = "ec", common_name: str = "localhost"
) -> str:
    """Write ``self_signed_pem()`` to a new file in ``directory``; returns its path."""
    fd, path = tempfile.mkstemp(
        prefix=f"pyssl-{key_type}-", suffix=".pem", dir=directory
    )
    with os.fdopen(fd, "wb") as f:
        f.write(self_signed_pem(key_type, common_name))
    return path
