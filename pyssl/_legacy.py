"""What the stdlib removed in Python 3.12, offered on 3.10 and 3.11 only
(``pyssl/__init__.py`` decides): ``match_hostname``, the module-level
``wrap_socket`` and ``RAND_pseudo_bytes``."""

from __future__ import annotations

import socket
import warnings
from typing import Any

from pyssl._enums import CERT_NONE, PROTOCOL_TLS
from pyssl._errors import CertificateError
from pyssl._functions import RAND_bytes, ssl_module


def _dnsname_match(dn: str, hostname: str) -> bool:
    """Whether the certificate name ``dn`` matches ``hostname`` (RFC 6125,
    6.4.3): one wildcard at most, as the whole leftmost label, standing for
    exactly one non-empty label."""
    if not dn:
        return False
    wildcards = dn.count("*")
    if wildcards == 0:
        return dn.lower() == hostname.lower()
    if wildcards > 1:
        raise CertificateError(f"too many wildcards in certificate DNS name: {dn!r}.")
    leftmost, dot, rest = dn.partition(".")
    if "*" in rest:
        raise CertificateError(
            f"wildcard can only be present in the leftmost label: {dn!r}."
        )
    if not dot:
        raise CertificateError(
            f"sole wildcard without additional labels are not support: {dn!r}."
        )
    if leftmost != "*":
        raise CertificateError(
            f"partial wildcards in leftmost label are not supported: {dn!r}."
        )
    host_leftmost, host_dot, host_rest = hostname.partition(".")
    if not host_leftmost or not host_dot:
        return False
    return rest.lower() == host_rest.lower()


def _inet_paton(ipname: str) -> bytes:
    """The packed form of an IPv4 (strictly quad-dotted) or IPv6 address."""
    try:
        packed = socket.inet_aton(ipname)
    except OSError:
        pass
    else:
        # inet_aton also takes '127.1' and trailing junk: accept only the
        # one spelling that maps back to itself.
        if socket.inet_ntoa(packed) == ipname:
            return packed
        raise ValueError(f"{ipname!r} is not a quad-dotted IPv4 address.")
    try:
        return socket.inet_pton(socket.AF_INET6, ipname)
    except OSError:
        raise ValueError(f"{ipname!r} is neither an IPv4 nor an IP6 address.") from None
    except AttributeError:
        raise ValueError(f"{ipname!r} is not an IPv4 address.") from None


def _ipaddress_match(cert_ipaddress: str, host_ip: bytes) -> bool:
    # The certificate decoder may leave a trailing newline on addresses.
    return _inet_paton(cert_ipaddress.rstrip()) == host_ip


def match_hostname(cert: Any, hostname: str) -> None:
    """Raise CertificateError unless ``cert`` (a getpeercert() dict) is
    valid for ``hostname``. Deprecated: OpenSSL checks host names during
    the handshake when ``check_hostname`` is set."""
    warnings.warn(
        "ssl.match_hostname() is deprecated", category=DeprecationWarning, stacklevel=2
    )
    if not cert:
        raise ValueError(
            "empty or no certificate, match_hostname needs a SSL socket or SSL "
            "context with either CERT_OPTIONAL or CERT_REQUIRED"
        )
    try:
        host_ip: bytes | None = _inet_paton(hostname)
    except ValueError:
        host_ip = None
    names = []
    for kind, value in cert.get("subjectAltName", ()):
        if kind == "DNS":
            if host_ip is None and _dnsname_match(value, hostname):
                return
            names.append(value)
        elif kind == "IP Address":
            if host_ip is not None and _ipaddress_match(value, host_ip):
                return
            names.append(value)
    if not names:
        # RFC 6125 6.4.4: the subject's common name counts only when the
        # certificate has no subjectAltName names at all.
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    if _dnsname_match(value, hostname):
                        return
                    names.append(value)
    if len(names) > 1:
        raise CertificateError(
            f"hostname {hostname!r} doesn't match either of {', '.join(map(repr, names))}"
        )
    if len(names) == 1:
        raise CertificateError(f"hostname {hostname!r} doesn't match {names[0]!r}")
    raise CertificateError(
        "no appropriate commonName or subjectAltName fields were found"
    )


def wrap_socket(
    sock: Any,
    keyfile: Any = None,
    certfile: Any = None,
    server_side: bool = False,
    cert_reqs: Any = CERT_NONE,
    ssl_version: Any = PROTOCOL_TLS,
    ca_certs: Any = None,
    do_handshake_on_connect: bool = True,
    suppress_ragged_eofs: bool = True,
    ciphers: Any = None,
) -> Any:
    """Deprecated: wrap ``sock`` with a context made from the arguments."""
    warnings.warn(
        "ssl.wrap_socket() is deprecated, use SSLContext.wrap_socket()",
        category=DeprecationWarning,
        stacklevel=2,
    )
    if server_side and not certfile:
        raise ValueError("certfile must be specified for server-side operations")
    if keyfile and not certfile:
        raise ValueError("certfile must be specified")
    context = ssl_module().SSLContext(ssl_version)
    context.verify_mode = cert_reqs
    if ca_certs:
        context.load_verify_locations(ca_certs)
    if certfile:
        context.load_cert_chain(certfile, keyfile)
    if ciphers:
        context.set_ciphers(ciphers)
    return context.wrap_socket(
        sock=sock,
        server_side=server_side,
        do_handshake_on_connect=do_handshake_on_connect,
        suppress_ragged_eofs=suppress_ragged_eofs,
    )


def RAND_pseudo_bytes(n: int) -> tuple[bytes, bool]:  # noqa: N802 - the stdlib's name
    """Deprecated: (``n`` random bytes, True)."""
    warnings.warn(
        "ssl.RAND_pseudo_bytes() is deprecated", DeprecationWarning, stacklevel=2
    )
    return RAND_bytes(n), True
