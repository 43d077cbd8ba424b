"""The stdlib's enums and module constants, valued from OpenSSL.

Option bits, alert numbers, verify flags, protocol versions and error
codes are read from ``lib``; only the numbers that are Python's own
(``PROTOCOL_*`` and ``CERT_*``, which the stdlib numbers itself) are
written here. The enums are built with ``_convert_``, as the stdlib
builds them, so that their members, aliases, ``repr`` and ``str`` are the
stdlib's on every Python version; each member is also a module-level
name (``OP_ALL``, ``CERT_REQUIRED``, ...).
"""

from __future__ import annotations

import sys
import types
from enum import Enum, IntEnum, IntFlag
from typing import TYPE_CHECKING

from pyssl import _errors
from pyssl._asn1 import _ASN1Object
from pyssl._lib import lib

if TYPE_CHECKING:
    # The module-level names _convert_ makes below, which a type checker
    # cannot see; each is its enum's member, an int.
    PROTOCOL_TLSv1: int
    PROTOCOL_TLSv1_1: int
    PROTOCOL_TLSv1_2: int
    PROTOCOL_TLS_CLIENT: int
    PROTOCOL_TLS_SERVER: int
    OP_ALL: int
    OP_NO_SSLv2: int
    OP_NO_SSLv3: int
    OP_NO_TLSv1: int
    OP_NO_TLSv1_1: int
    OP_NO_TLSv1_2: int
    OP_NO_TLSv1_3: int
    OP_CIPHER_SERVER_PREFERENCE: int
    OP_SINGLE_DH_USE: int
    OP_SINGLE_ECDH_USE: int
    OP_NO_COMPRESSION: int
    OP_NO_TICKET: int
    OP_NO_RENEGOTIATION: int
    OP_ENABLE_MIDDLEBOX_COMPAT: int
    OP_IGNORE_UNEXPECTED_EOF: int
    if sys.version_info >= (3, 12):
        OP_LEGACY_SERVER_CONNECT: int
        OP_ENABLE_KTLS: int
    ALERT_DESCRIPTION_CLOSE_NOTIFY: int
    ALERT_DESCRIPTION_UNEXPECTED_MESSAGE: int
    ALERT_DESCRIPTION_BAD_RECORD_MAC: int
    ALERT_DESCRIPTION_RECORD_OVERFLOW: int
    ALERT_DESCRIPTION_DECOMPRESSION_FAILURE: int
    ALERT_DESCRIPTION_HANDSHAKE_FAILURE: int
    ALERT_DESCRIPTION_BAD_CERTIFICATE: int
    ALERT_DESCRIPTION_UNSUPPORTED_CERTIFICATE: int
    ALERT_DESCRIPTION_CERTIFICATE_REVOKED: int
    ALERT_DESCRIPTION_CERTIFICATE_EXPIRED: int
    ALERT_DESCRIPTION_CERTIFICATE_UNKNOWN: int
    ALERT_DESCRIPTION_ILLEGAL_PARAMETER: int
    ALERT_DESCRIPTION_UNKNOWN_CA: int
    ALERT_DESCRIPTION_ACCESS_DENIED: int
    ALERT_DESCRIPTION_DECODE_ERROR: int
    ALERT_DESCRIPTION_DECRYPT_ERROR: int
    ALERT_DESCRIPTION_PROTOCOL_VERSION: int
    ALERT_DESCRIPTION_INSUFFICIENT_SECURITY: int
    ALERT_DESCRIPTION_INTERNAL_ERROR: int
    ALERT_DESCRIPTION_USER_CANCELLED: int
    ALERT_DESCRIPTION_NO_RENEGOTIATION: int
    ALERT_DESCRIPTION_UNSUPPORTED_EXTENSION: int
    ALERT_DESCRIPTION_CERTIFICATE_UNOBTAINABLE: int
    ALERT_DESCRIPTION_UNRECOGNIZED_NAME: int
    ALERT_DESCRIPTION_BAD_CERTIFICATE_STATUS_RESPONSE: int
    ALERT_DESCRIPTION_BAD_CERTIFICATE_HASH_VALUE: int
    ALERT_DESCRIPTION_UNKNOWN_PSK_IDENTITY: int
    SSL_ERROR_SSL: int
    SSL_ERROR_WANT_READ: int
    SSL_ERROR_WANT_WRITE: int
    SSL_ERROR_WANT_X509_LOOKUP: int
    SSL_ERROR_SYSCALL: int
    SSL_ERROR_ZERO_RETURN: int
    SSL_ERROR_WANT_CONNECT: int
    SSL_ERROR_EOF: int
    SSL_ERROR_INVALID_ERROR_CODE: int
    CERT_NONE: int
    CERT_OPTIONAL: int
    CERT_REQUIRED: int
    VERIFY_DEFAULT: int
    VERIFY_CRL_CHECK_LEAF: int
    VERIFY_CRL_CHECK_CHAIN: int
    VERIFY_X509_STRICT: int
    VERIFY_ALLOW_PROXY_CERTS: int
    VERIFY_X509_TRUSTED_FIRST: int
    VERIFY_X509_PARTIAL_CHAIN: int

# The stdlib's own numbering of the context protocols (PY_SSL_VERSION_*).
_protocols = types.SimpleNamespace(
    PROTOCOL_TLS=2,
    PROTOCOL_TLSv1=3,
    PROTOCOL_TLSv1_1=4,
    PROTOCOL_TLSv1_2=5,
    PROTOCOL_TLS_CLIENT=0x10,
    PROTOCOL_TLS_SERVER=0x11,
)
IntEnum._convert_(  # type: ignore[attr-defined]
    "_SSLMethod", __name__, lambda name: name.startswith("PROTOCOL_"), source=_protocols
)
_SSLMethod = globals()["_SSLMethod"]
# An alias kept outside the members, as the stdlib keeps it.
_SSLMethod.PROTOCOL_SSLv23 = _SSLMethod.PROTOCOL_TLS
PROTOCOL_SSLv23 = PROTOCOL_TLS = _SSLMethod.PROTOCOL_TLS

_options = types.SimpleNamespace(
    **{
        f"OP_{name}": getattr(lib, f"SSL_OP_{name}")
        for name in (
            "NO_SSLv2",
            "NO_SSLv3",
            "NO_TLSv1",
            "NO_TLSv1_1",
            "NO_TLSv1_2",
            "NO_TLSv1_3",
            "CIPHER_SERVER_PREFERENCE",
            "SINGLE_DH_USE",
            "SINGLE_ECDH_USE",
            "NO_COMPRESSION",
            "NO_TICKET",
            "NO_RENEGOTIATION",
            "ENABLE_MIDDLEBOX_COMPAT",
            "IGNORE_UNEXPECTED_EOF",
            # Python 3.12 added these two; before, the stdlib's Options has
            # no such members, and its reprs name no such flags.
            *(
                ("LEGACY_SERVER_CONNECT", "ENABLE_KTLS")
                if sys.version_info >= (3, 12)
                else ()
            ),
        )
    },
    # The stdlib keeps the CBC record-splitting countermeasure on: OP_ALL
    # leaves out SSL_OP_DONT_INSERT_EMPTY_FRAGMENTS.
    OP_ALL=lib.SSL_OP_ALL & ~lib.SSL_OP_DONT_INSERT_EMPTY_FRAGMENTS,
)
IntFlag._convert_(  # type: ignore[attr-defined]
    "Options", __name__, lambda name: name.startswith("OP_"), source=_options
)
Options = globals()["Options"]

_alert_names = (
    "CLOSE_NOTIFY UNEXPECTED_MESSAGE BAD_RECORD_MAC RECORD_OVERFLOW "
    "DECOMPRESSION_FAILURE HANDSHAKE_FAILURE BAD_CERTIFICATE "
    "UNSUPPORTED_CERTIFICATE CERTIFICATE_REVOKED CERTIFICATE_EXPIRED "
    "CERTIFICATE_UNKNOWN ILLEGAL_PARAMETER UNKNOWN_CA ACCESS_DENIED "
    "DECODE_ERROR DECRYPT_ERROR PROTOCOL_VERSION INSUFFICIENT_SECURITY "
    "INTERNAL_ERROR USER_CANCELLED NO_RENEGOTIATION UNSUPPORTED_EXTENSION "
    "CERTIFICATE_UNOBTAINABLE UNRECOGNIZED_NAME "
    "BAD_CERTIFICATE_STATUS_RESPONSE BAD_CERTIFICATE_HASH_VALUE "
    "UNKNOWN_PSK_IDENTITY"
).split()
_alerts = types.SimpleNamespace(
    **{
        f"ALERT_DESCRIPTION_{name}": getattr(lib, f"SSL_AD_{name}")
        for name in _alert_names
    }
)
IntEnum._convert_(  # type: ignore[attr-defined]
    "AlertDescription",
    __name__,
    lambda name: name.startswith("ALERT_DESCRIPTION_"),
    source=_alerts,
)
AlertDescription = globals()["AlertDescription"]

_error_numbers = types.SimpleNamespace(
    **{
        name: getattr(_errors, name)
        for name in dir(_errors)
        if name.startswith("SSL_ERROR_")
    }
)
IntEnum._convert_(  # type: ignore[attr-defined]
    "SSLErrorNumber",
    __name__,
    lambda name: name.startswith("SSL_ERROR_"),
    source=_error_numbers,
)
SSLErrorNumber = globals()["SSLErrorNumber"]

# CERT_* are the stdlib's numbering; _context.py maps them to SSL_VERIFY_*.
_verify_modes = types.SimpleNamespace(CERT_NONE=0, CERT_OPTIONAL=1, CERT_REQUIRED=2)
IntEnum._convert_(  # type: ignore[attr-defined]
    "VerifyMode", __name__, lambda name: name.startswith("CERT_"), source=_verify_modes
)
VerifyMode = globals()["VerifyMode"]

_verify_flags = types.SimpleNamespace(
    VERIFY_DEFAULT=0,
    VERIFY_CRL_CHECK_LEAF=lib.X509_V_FLAG_CRL_CHECK,
    VERIFY_CRL_CHECK_CHAIN=lib.X509_V_FLAG_CRL_CHECK | lib.X509_V_FLAG_CRL_CHECK_ALL,
    VERIFY_X509_STRICT=lib.X509_V_FLAG_X509_STRICT,
    VERIFY_ALLOW_PROXY_CERTS=lib.X509_V_FLAG_ALLOW_PROXY_CERTS,
    VERIFY_X509_TRUSTED_FIRST=lib.X509_V_FLAG_TRUSTED_FIRST,
    VERIFY_X509_PARTIAL_CHAIN=lib.X509_V_FLAG_PARTIAL_CHAIN,
)
IntFlag._convert_(  # type: ignore[attr-defined]
    "VerifyFlags",
    __name__,
    lambda name: name.startswith("VERIFY_"),
    source=_verify_flags,
)
VerifyFlags = globals()["VerifyFlags"]

# -2 and -1 are the stdlib's markers for "whatever OpenSSL supports".
PROTO_MINIMUM_SUPPORTED = -2
PROTO_MAXIMUM_SUPPORTED = -1
TLSVersion = IntEnum(
    "TLSVersion",
    [
        ("MINIMUM_SUPPORTED", PROTO_MINIMUM_SUPPORTED),
        ("SSLv3", lib.SSL3_VERSION),
        ("TLSv1", lib.TLS1_VERSION),
        ("TLSv1_1", lib.TLS1_1_VERSION),
        ("TLSv1_2", lib.TLS1_2_VERSION),
        ("TLSv1_3", lib.TLS1_3_VERSION),
        ("MAXIMUM_SUPPORTED", PROTO_MAXIMUM_SUPPORTED),
    ],
    module="pyssl",
)


class Purpose(_ASN1Object, Enum):
    """SSLContext purpose flags with X509v3 Extended Key Usage objects."""

    SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
    CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"


Purpose.__module__ = "pyssl"

# The message callback's vocabulary (RFC 8446, appendix B), private in the
# stdlib too.
_TLSContentType = IntEnum(
    "_TLSContentType",
    [
        ("CHANGE_CIPHER_SPEC", lib.SSL3_RT_CHANGE_CIPHER_SPEC),
        ("ALERT", lib.SSL3_RT_ALERT),
        ("HANDSHAKE", lib.SSL3_RT_HANDSHAKE),
        ("APPLICATION_DATA", lib.SSL3_RT_APPLICATION_DATA),
        # OpenSSL's pseudo content types for record headers and the TLS 1.3
        # inner content type byte.
        ("HEADER", lib.SSL3_RT_HEADER),
        ("INNER_CONTENT_TYPE", lib.SSL3_RT_INNER_CONTENT_TYPE),
    ],
    module="pyssl",
)

# Sorted by value at import time: a member list a type checker cannot read
# (to it, the enum has no members).
_TLSAlertType = IntEnum(  # type: ignore[misc]
    "_TLSAlertType",
    sorted(
        [
            (name, getattr(lib, f"SSL_AD_{name}"))
            for name in _alert_names
            if name != "USER_CANCELLED"
        ]
        + [
            # RFC 8446 spells it "user_canceled".
            ("USER_CANCELED", lib.SSL_AD_USER_CANCELLED),
            ("DECRYPTION_FAILED", lib.TLS1_AD_DECRYPTION_FAILED),
            ("NO_CERTIFICATE", lib.SSL3_AD_NO_CERTIFICATE),
            ("EXPORT_RESTRICTION", lib.TLS1_AD_EXPORT_RESTRICTION),
            ("INAPPROPRIATE_FALLBACK", lib.TLS1_AD_INAPPROPRIATE_FALLBACK),
            ("MISSING_EXTENSION", lib.TLS13_AD_MISSING_EXTENSION),
            ("CERTIFICATE_REQUIRED", lib.TLS13_AD_CERTIFICATE_REQUIRED),
            ("NO_APPLICATION_PROTOCOL", lib.TLS1_AD_NO_APPLICATION_PROTOCOL),
        ],
        key=lambda item: item[1],
    ),
    module="pyssl",
)

# Sorted by value at import time, as _TLSAlertType.
_TLSMessageType = IntEnum(  # type: ignore[misc]
    "_TLSMessageType",
    sorted(
        [
            (name, getattr(lib, f"SSL3_MT_{name}"))
            for name in (
                "HELLO_REQUEST CLIENT_HELLO SERVER_HELLO NEWSESSION_TICKET "
                "END_OF_EARLY_DATA ENCRYPTED_EXTENSIONS CERTIFICATE "
                "SERVER_KEY_EXCHANGE CERTIFICATE_REQUEST SERVER_DONE "
                "CERTIFICATE_VERIFY CLIENT_KEY_EXCHANGE FINISHED CERTIFICATE_URL "
                "CERTIFICATE_STATUS SUPPLEMENTAL_DATA KEY_UPDATE NEXT_PROTO "
                "MESSAGE_HASH CHANGE_CIPHER_SPEC"
            ).split()
        ]
        + [
            ("HELLO_VERIFY_REQUEST", lib.DTLS1_MT_HELLO_VERIFY_REQUEST),
            # RFC 8446 B.3 reserves 6 for the draft HelloRetryRequest
            # message; OpenSSL names no macro for it.
            ("HELLO_RETRY_REQUEST", 6),
        ],
        key=lambda item: item[1],
    ),
    module="pyssl",
)

HOSTFLAG_ALWAYS_CHECK_SUBJECT: int = lib.X509_CHECK_FLAG_ALWAYS_CHECK_SUBJECT
HOSTFLAG_NO_WILDCARDS: int = lib.X509_CHECK_FLAG_NO_WILDCARDS
HOSTFLAG_NO_PARTIAL_WILDCARDS: int = lib.X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS
HOSTFLAG_MULTI_LABEL_WILDCARDS: int = lib.X509_CHECK_FLAG_MULTI_LABEL_WILDCARDS
HOSTFLAG_SINGLE_LABEL_SUBDOMAINS: int = lib.X509_CHECK_FLAG_SINGLE_LABEL_SUBDOMAINS
HOSTFLAG_NEVER_CHECK_SUBJECT: int = lib.X509_CHECK_FLAG_NEVER_CHECK_SUBJECT

CHANNEL_BINDING_TYPES = ["tls-unique"]

for _enum in (
    _SSLMethod,
    Options,
    AlertDescription,
    SSLErrorNumber,
    VerifyMode,
    VerifyFlags,
):
    _enum.__module__ = "pyssl"
del _enum
