"""The low-level module the stdlib calls ``_ssl``, as pyssl's objects.

``inject_into_stdlib()`` installs this module as ``sys.modules['_ssl']``
(and it is ``pyssl._ssl``, as ``ssl._ssl`` is in the stdlib) for code that
reaches below ``ssl``: CPython's own test suite among others.
"""

from __future__ import annotations

from pyssl import _enums, _errors, _lib
from pyssl._asn1 import nid2obj, txt2obj
from pyssl._connection import Connection as _SSLSocket
from pyssl._context import DEFAULT_CIPHERS as _DEFAULT_CIPHERS
from pyssl._context import _SSLContext
from pyssl._functions import (
    RAND_add,
    RAND_bytes,
    RAND_status,
    _openssl_default_paths,
    get_sigalgs,
)
from pyssl._memory_bio import MemoryBIO
from pyssl._session import SSLSession
from pyssl._x509 import ENCODING_DER, ENCODING_PEM, Certificate
from pyssl._x509 import test_decode_cert as _test_decode_cert

_OPENSSL_API_VERSION = _lib.OPENSSL_API_VERSION
OPENSSL_VERSION = _lib.OPENSSL_VERSION
OPENSSL_VERSION_INFO = _lib.OPENSSL_VERSION_INFO
OPENSSL_VERSION_NUMBER = _lib.OPENSSL_VERSION_NUMBER

SSLError = _errors.SSLError
SSLZeroReturnError = _errors.SSLZeroReturnError
SSLWantReadError = _errors.SSLWantReadError
SSLWantWriteError = _errors.SSLWantWriteError
SSLSyscallError = _errors.SSLSyscallError
SSLEOFError = _errors.SSLEOFError
SSLCertVerificationError = _errors.SSLCertVerificationError


def get_default_verify_paths() -> tuple[str, str, str, str]:
    """OpenSSL's (cafile env var, cafile, capath env var, capath)."""
    return _openssl_default_paths()


def _export_constants() -> list[str]:
    names = []
    for source in (_lib, _enums):
        for name in dir(source):
            if name.startswith(
                (
                    "HAS_",
                    "OP_",
                    "CERT_",
                    "PROTOCOL_",
                    "ALERT_DESCRIPTION_",
                    "SSL_ERROR_",
                    "VERIFY_",
                    "PROTO_",
                    "HOSTFLAG_",
                )
            ):
                # The stdlib's _ssl holds plain ints; its ssl module makes
                # the enums.
                value = getattr(source, name)
                globals()[name] = int(value) if not isinstance(value, bool) else value
                names.append(name)
    for version in ("SSLv3", "TLSv1", "TLSv1_1", "TLSv1_2", "TLSv1_3"):
        globals()[f"PROTO_{version}"] = int(getattr(_enums.TLSVersion, version))
    return names


_export_constants()


def _error_tables() -> tuple[dict, dict, dict]:
    libs, reasons = _errors._load_names()
    codes_to_names = {key: name for key, name in reasons.items() if key[0]}
    names_to_codes = {name: key for key, name in codes_to_names.items()}
    return codes_to_names, names_to_codes, dict(libs)


# OpenSSL's error mnemonics, as the stdlib's _ssl offered them before 3.12.
err_codes_to_names, err_names_to_codes, lib_codes_to_names = _error_tables()

del _export_constants, _error_tables
