"""pyssl: Python's ``ssl`` module on a cffi binding of OpenSSL.

``import pyssl as ssl`` offers the stdlib's API; ``pyssl.inject_into_stdlib()``
makes ``import ssl`` itself resolve to pyssl.
"""

__version__ = "0.1.0"

import sys as _sys
from socket import (  # type: ignore[attr-defined]  # noqa: F401  (re-exported, as the stdlib does)
    _GLOBAL_DEFAULT_TIMEOUT,  # private: socket's type stubs leave it out
    SO_TYPE,
    SOCK_STREAM,
    SOL_SOCKET,
    create_connection,
)

# The low-level module, as ``ssl._ssl`` is the stdlib's: code written for
# the stdlib reaches its base types and constants there (gevent does).
from pyssl import _ssl
from pyssl._asn1 import _ASN1Object
from pyssl._asn1 import nid2obj as _nid2obj
from pyssl._asn1 import txt2obj as _txt2obj
from pyssl._context import DEFAULT_CIPHERS as _DEFAULT_CIPHERS
from pyssl._enums import *  # noqa: F403
from pyssl._enums import (
    CHANNEL_BINDING_TYPES,
    AlertDescription,
    Options,
    Purpose,
    SSLErrorNumber,
    TLSVersion,
    VerifyFlags,
    VerifyMode,
    _SSLMethod,
    _TLSAlertType,
    _TLSContentType,
    _TLSMessageType,
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
    _PROTOCOL_NAMES,
    DefaultVerifyPaths,
    RAND_add,
    RAND_bytes,
    RAND_status,
    _create_default_https_context,
    _create_stdlib_context,
    _create_unverified_context,
    create_default_context,
    get_default_verify_paths,
    get_protocol_name,
    get_server_certificate,
    get_sigalgs,
)
from pyssl._lib import (
    HAS_ALPN,
    HAS_CERTS_FROM_MEMORY,
    HAS_EARLY_DATA,
    HAS_ECDH,
    HAS_KEY_UPDATE,
    HAS_KEYING_MATERIAL_EXPORTER,
    HAS_NEVER_CHECK_COMMON_NAME,
    HAS_NPN,
    HAS_OCSP_STAPLING,
    HAS_PHA,
    HAS_PSK,
    HAS_PSK_TLS13,
    HAS_SNI,
    HAS_VERIFY_CALLBACK,
    OPENSSL_VERSION,
    OPENSSL_VERSION_INFO,
    OPENSSL_VERSION_NUMBER,
    HAS_SSLv2,
    HAS_SSLv3,
    HAS_TLSv1,
    HAS_TLSv1_1,
    HAS_TLSv1_2,
    HAS_TLSv1_3,
)
from pyssl._lib import OPENSSL_API_VERSION as _OPENSSL_API_VERSION
from pyssl._memory_bio import MemoryBIO
from pyssl._session import SSLSession
from pyssl._sslcontext import SSLContext
from pyssl._sslobject import SSLObject
from pyssl._sslsocket import SSLSocket, _GiveupOnSSLSendfile
from pyssl._stdlib import extract_from_stdlib, inject_into_stdlib, is_injected
from pyssl._x509 import (
    PEM_FOOTER,
    PEM_HEADER,
    DER_cert_to_PEM_cert,
    PEM_cert_to_DER_cert,
    cert_time_to_seconds,
)

SSLContext.sslsocket_class = SSLSocket
SSLContext.sslobject_class = SSLObject

socket_error = OSError
_RESTRICTED_SERVER_CIPHERS = _DEFAULT_CIPHERS
_SSLv2_IF_EXISTS = None

if _sys.version_info < (3, 12):
    # Removed from the stdlib in 3.12; offered where the stdlib still has them.
    from pyssl._legacy import (
        RAND_pseudo_bytes,
        _dnsname_match,
        _inet_paton,
        _ipaddress_match,
        match_hostname,
        wrap_socket,
    )

__all__ = [name for name in dir() if not name.startswith("_")]
