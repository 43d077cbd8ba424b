"""Module-level functions of the ssl API that build or describe contexts."""

from __future__ import annotations

import os
import sys
from typing import Any

from pyssl._asn1 import _ASN1Object
from pyssl._context import SSLContext
from pyssl._enums import (
    CERT_NONE,
    CERT_REQUIRED,
    PROTOCOL_TLS_CLIENT,
    PROTOCOL_TLS_SERVER,
    VERIFY_X509_PARTIAL_CHAIN,
    VERIFY_X509_STRICT,
    Purpose,
)


def _use_keylog_file(context: SSLContext) -> None:
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and not sys.flags.ignore_environment and hasattr(context, "keylog_filename"):
        context.keylog_filename = keylog


def create_default_context(
    purpose: Any = Purpose.SERVER_AUTH,
    *,
    cafile: Any = None,
    capath: Any = None,
    cadata: Any = None,
) -> SSLContext:
    """Create a SSLContext object with default settings: for
    ``Purpose.SERVER_AUTH`` (a client), certificates and host names are
    verified against the given or the system's CA certificates."""
    if not isinstance(purpose, _ASN1Object):
        raise TypeError(purpose)
    if purpose == Purpose.SERVER_AUTH:
        context = SSLContext(PROTOCOL_TLS_CLIENT)
        context.verify_mode = CERT_REQUIRED
        context.check_hostname = True
    elif purpose == Purpose.CLIENT_AUTH:
        context = SSLContext(PROTOCOL_TLS_SERVER)
    else:
        raise ValueError(purpose)
    if sys.version_info >= (3, 13):
        # Python 3.13 made chain building stop at the first trust anchor
        # (RFC 5280) and stricter about malformed certificates.
        context.verify_flags |= VERIFY_X509_PARTIAL_CHAIN | VERIFY_X509_STRICT
    if cafile or capath or cadata:
        context.load_verify_locations(cafile, capath, cadata)
    elif context.verify_mode != CERT_NONE:
        context.load_default_certs(purpose)
    _use_keylog_file(context)
    return context


def _create_unverified_context(
    protocol: Any = None,
    *,
    cert_reqs: Any = CERT_NONE,
    check_hostname: bool = False,
    purpose: Any = Purpose.SERVER_AUTH,
    certfile: Any = None,
    keyfile: Any = None,
    cafile: Any = None,
    capath: Any = None,
    cadata: Any = None,
) -> SSLContext:
    """Create a SSLContext for the stdlib's clients that does not verify
    certificates unless asked to (the legacy behaviour)."""
    if not isinstance(purpose, _ASN1Object):
        raise TypeError(purpose)
    if purpose == Purpose.SERVER_AUTH:
        if protocol is None:
            protocol = PROTOCOL_TLS_CLIENT
    elif purpose == Purpose.CLIENT_AUTH:
        if protocol is None:
            protocol = PROTOCOL_TLS_SERVER
    else:
        raise ValueError(purpose)
    context = SSLContext(protocol)
    context.check_hostname = check_hostname
    if cert_reqs is not None:
        context.verify_mode = cert_reqs
    if check_hostname:
        context.check_hostname = True
    if keyfile and not certfile:
        raise ValueError("certfile must be specified")
    if certfile or keyfile:
        context.load_cert_chain(certfile, keyfile)
    if cafile or capath or cadata:
        context.load_verify_locations(cafile, capath, cadata)
    elif context.verify_mode != CERT_NONE:
        context.load_default_certs(purpose)
    _use_keylog_file(context)
    return context


# http.client uses this when no context is given.
_create_default_https_context = create_default_context
# Kept for compatibility, as in the stdlib.
_create_stdlib_context = _create_unverified_context
