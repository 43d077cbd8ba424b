"""pyssl: Python's ``ssl`` module on a cffi binding of OpenSSL.

``import pyssl as ssl`` offers the stdlib's API; ``pyssl.inject_into_stdlib()``
makes ``import ssl`` itself resolve to pyssl.
"""

__version__ = "0.1.0"

from socket import SOCK_STREAM, SOL_SOCKET, SO_TYPE  # noqa: F401  (as the stdlib)

from pyssl._asn1 import _ASN1Object
from pyssl._context import DEFAULT_CIPHERS as _DEFAULT_CIPHERS
from pyssl._context import SSLContext
from pyssl._enums import *  # noqa: F403
from pyssl._enums import (
    CHANNEL_BINDING_TYPES,
    _TLSAlertType,
    _TLSContentType,
    _TLSMessageType,
    AlertDescription,
    Options,
    Purpose,
    SSLErrorNumber,
    TLSVersion,
    VerifyFlags,
    VerifyMode,
    _SSLMethod,
)
from pyssl._errors import (
    CertificateError,
    SSLCertVerificationError,
    SSLEOFError,
    SSLError,
    SSLSyscallError,
    SSLWantReadError,
    SSLWantWriteError,
    SSLZeroReturnError,
)
from pyssl._functions import (
    _create_default_https_context,
    _create_stdlib_context,
    _create_unverified_context,
    create_default_context,
)
from pyssl._lib import (
    HAS_ALPN,
    HAS_ECDH,
    HAS_NEVER_CHECK_COMMON_NAME,
    HAS_NPN,
    HAS_PSK,
    HAS_SNI,
    HAS_SSLv2,
    HAS_SSLv3,
    HAS_TLSv1,
    HAS_TLSv1_1,
    HAS_TLSv1_2,
    HAS_TLSv1_3,
    OPENSSL_VERSION,
    OPENSSL_VERSION_INFO,
    OPENSSL_VERSION_NUMBER,
)
from pyssl._lib import OPENSSL_API_VERSION as _OPENSSL_API_VERSION
from pyssl._memory import MemoryBIO, SSLObject
from pyssl._session import SSLSession
from pyssl._socket import SSLSocket

SSLContext.sslsocket_class = SSLSocket
SSLContext.sslobject_class = SSLObject

__all__ = [name for name in dir() if not name.startswith("_")]
