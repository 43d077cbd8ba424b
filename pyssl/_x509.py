"""X.509 certificates: PEM and DER, loading them from memory, ``Certificate``
and the chains handed out.

The dictionary ``getpeercert()`` returns is decoded in
``_certificate_info.py``.
"""

from __future__ import annotations

import base64
import calendar
import operator
import os
import sys
import time
from typing import Any, NoReturn, SupportsIndex, cast

from pyssl._certificate_info import bio_contents, decode_certificate, mem_bio
from pyssl._errors import (
    clear_queue,
    error_from_queue,
    plain_error,
    reason_name,
)
from pyssl._lib import ffi, lib

__all__ = [
    "ENCODING_DER",
    "ENCODING_PEM",
    "PEM_FOOTER",
    "PEM_HEADER",
    "Certificate",
    "DER_cert_to_PEM_cert",
    "PEM_cert_to_DER_cert",
    "cert_time_to_seconds",
    "certificate_from_ptr",
    "certificate_to_der",
    "load_der_certificates",
    "load_pem_certificates",
    "test_decode_cert",
]

PEM_HEADER = "-----BEGIN CERTIFICATE-----"
PEM_FOOTER = "-----END CERTIFICATE-----"

ENCODING_PEM = 1  # X509_FILETYPE_PEM
ENCODING_DER = 2  # X509_FILETYPE_ASN1
# Not exported by the stdlib either, but its public_bytes() accepts it.
_ENCODING_PEM_AUX = 0x101

# An empty passphrase: OpenSSL would otherwise prompt on the terminal for
# an encrypted PEM block.
_NO_PASSPHRASE = b""


# ---- DER, and the test helper ------------------------------------------------


def certificate_to_der(x509) -> bytes:
    """Return the DER encoding of the certificate ``X509 *``."""
    return _to_der(lib.i2d_X509, x509)


def _to_der(encode, x509) -> bytes:
    length = encode(x509, ffi.NULL)
    if length < 0:
        raise error_from_queue("i2d_X509")
    buf = ffi.new("unsigned char[]", length)
    cursor = ffi.new("unsigned char **", buf)
    if encode(x509, cursor) != length:
        raise error_from_queue("i2d_X509")
    return ffi.buffer(buf, length)[:]


def test_decode_cert(path) -> dict[str, Any]:
    """Decode the first PEM certificate in the file ``path`` (a test helper,
    as ``_ssl._test_decode_cert``)."""
    filename = os.fsencode(path)
    if b"\0" in filename:
        raise ValueError("embedded null byte")
    bio = lib.BIO_new_file(filename, b"r")
    if bio == ffi.NULL:
        raise plain_error("Can't open file")
    try:
        x509 = lib.PEM_read_bio_X509(bio, ffi.NULL, ffi.NULL, _NO_PASSPHRASE)
    finally:
        lib.BIO_free(bio)
    # Parsing leaves errors behind for a bad extension even on success.
    clear_queue()
    if x509 == ffi.NULL:
        raise plain_error("Error decoding PEM-encoded file")
    try:
        return decode_certificate(x509)
    finally:
        lib.X509_free(x509)


# ---- loading certificates from memory ----------------------------------------


def _load_certificates(data, read_one, end: tuple[int, str] | None) -> list:
    view = ffi.from_buffer(data)
    bio = lib.BIO_new_mem_buf(view, len(view))
    if bio == ffi.NULL:
        raise error_from_queue("BIO_new_mem_buf")
    certificates = []
    try:
        while (x509 := read_one(bio)) != ffi.NULL:
            certificates.append(ffi.gc(x509, lib.X509_free))
            clear_queue()
    finally:
        lib.BIO_free(bio)
    # The error that means "no more input" (``end``) ends the list; any
    # other error is bad data.
    error = lib.ERR_peek_last_error()
    if error and (
        end is None
        or lib.ERR_GET_LIB(error) != end[0]
        or reason_name(end[0], lib.ERR_GET_REASON(error)) != end[1]
    ):
        raise error_from_queue("load certificates")
    clear_queue()
    return certificates


def load_pem_certificates(data) -> list:
    """Every PEM certificate in the bytes-like ``data``, as owned ``X509 *``.

    Text around the blocks is skipped; an empty list means there was no
    certificate. A malformed block raises SSLError.
    """
    return _load_certificates(
        data,
        lambda bio: lib.PEM_read_bio_X509(bio, ffi.NULL, ffi.NULL, _NO_PASSPHRASE),
        (lib.ERR_LIB_PEM, "NO_START_LINE"),
    )


def load_der_certificates(data) -> list:
    """The concatenated DER certificates in the bytes-like ``data``, as owned
    ``X509 *``; an empty list for no data. Bad DER raises SSLError."""
    return _load_certificates(
        data,
        # DER ends where the memory BIO runs out: no error code says so
        # (OpenSSL 3.5.7 queues NOT_ENOUGH_DATA even at a clean end, and
        # HEADER_TOO_LONG also means a header cut short).
        lambda bio: (
            lib.d2i_X509_bio(bio, ffi.NULL) if lib.BIO_ctrl_pending(bio) else ffi.NULL
        ),
        None,
    )


# ---- PEM and DER ------------------------------------------------------------


def _pem_block(der: bytes, label: str) -> str:
    body = base64.b64encode(der).decode("ascii")
    lines = [f"-----BEGIN {label}-----"]
    lines.extend(body[start : start + 64] for start in range(0, len(body), 64))
    lines.append(f"-----END {label}-----")
    return "\n".join(lines) + "\n"


def DER_cert_to_PEM_cert(der_cert_bytes) -> str:
    """Takes a certificate in binary DER format and returns the PEM version
    of it as a string."""
    return _pem_block(der_cert_bytes, "CERTIFICATE")


def PEM_cert_to_DER_cert(pem_cert_string) -> bytes:
    """Takes a certificate in ASCII PEM format and returns the DER-encoded
    version of it as a byte sequence."""
    if not pem_cert_string.startswith(PEM_HEADER):
        raise ValueError(f"Invalid PEM encoding; must start with {PEM_HEADER}")
    text = pem_cert_string.strip()
    if not text.endswith(PEM_FOOTER):
        raise ValueError(f"Invalid PEM encoding; must end with {PEM_FOOTER}")
    body = text[len(PEM_HEADER) : -len(PEM_FOOTER)]
    return base64.decodebytes(body.encode("ascii"))


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # fmt: skip
# The month is matched by hand: strptime's %b follows the locale.
_TIME_AFTER_MONTH = " %d %H:%M:%S %Y GMT"


def cert_time_to_seconds(cert_time) -> int:
    """Return the time in seconds since the Epoch, given the timestring
    representing the "notBefore" or "notAfter" date from a certificate in
    ``"%b %d %H:%M:%S %Y %Z"`` strptime format (C locale, GMT)."""
    month = cert_time[:3].title()
    if month not in _MONTHS:
        raise ValueError(
            f'time data {cert_time!r} does not match format "%b{_TIME_AFTER_MONTH}"'
        )
    parsed = time.strptime(cert_time[3:], _TIME_AFTER_MONTH)
    return calendar.timegm((parsed.tm_year, _MONTHS.index(month) + 1, *parsed[2:6]))


# ---- Certificate --------------------------------------------------------------


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class Certificate:
    """An X.509 certificate handed out by pyssl, e.g. from a verified chain."""

    __slots__ = ("_x509", "_hash")
    _x509: Any  # X509 *, owned (ffi.gc)
    _hash: int | None

    def __new__(cls, *args: Any, **kwargs: Any) -> Certificate:
        raise TypeError(f"cannot create '{_type_name(cls)}' instances")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        raise TypeError(
            f"type '{_type_name(Certificate)}' is not an acceptable base type"
        )

    def public_bytes(self, format: int = ENCODING_PEM) -> str | bytes:
        """Return the certificate as a PEM string (``ENCODING_PEM``) or
        as DER bytes (``ENCODING_DER``)."""
        format = operator.index(format)
        if not -0x80000000 <= format <= 0x7FFFFFFF:
            raise OverflowError("Python int too large to convert to C int")
        if format == ENCODING_DER:
            return certificate_to_der(self._x509)
        if format == ENCODING_PEM:
            return _pem_block(certificate_to_der(self._x509), "CERTIFICATE")
        if format == _ENCODING_PEM_AUX:
            # The DER followed by OpenSSL's trust settings, if it has any.
            return _pem_block(
                _to_der(lib.i2d_X509_AUX, self._x509), "TRUSTED CERTIFICATE"
            )
        raise ValueError("Unsupported format")

    def get_info(self) -> dict[str, Any]:
        """Return the certificate decoded as ``getpeercert()`` does."""
        return decode_certificate(self._x509)

    def __eq__(self, other: object) -> bool:
        if type(other) is not Certificate:
            return NotImplemented
        return lib.X509_cmp(self._x509, other._x509) == 0

    def __hash__(self) -> int:
        # OpenSSL's subject name hash, so equal certificates hash alike.
        if self._hash is None:
            self._hash = lib.X509_subject_name_hash(self._x509)
        return self._hash

    def __repr__(self) -> str:
        bio = mem_bio()
        try:
            written = lib.X509_NAME_print_ex(
                bio, lib.X509_get_subject_name(self._x509), 0, lib.XN_FLAG_RFC2253
            )
            # An empty subject prints nothing, which the stdlib reports as
            # an error too.
            if written <= 0:
                raise error_from_queue("X509_NAME_print_ex")
            subject = bio_contents(bio).decode("utf-8")
        finally:
            lib.BIO_free(bio)
        return f"<{_type_name(type(self))} '{subject}'>"

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        raise TypeError(f"cannot pickle '{_type_name(type(self))}' object")


def certificate_from_ptr(x509, up_ref: bool = True) -> Certificate:
    """Wrap an ``X509 *`` in a Certificate that owns one reference to it.

    With ``up_ref`` the reference is new and the caller keeps its own;
    without, the Certificate takes over a reference the caller owned (as
    returned by ``SSL_get1_peer_certificate``).
    """
    if x509 == ffi.NULL:
        raise ValueError("NULL certificate")
    if up_ref and lib.X509_up_ref(x509) != 1:
        raise error_from_queue("X509_up_ref")
    cert = object.__new__(Certificate)
    cert._x509 = ffi.gc(ffi.cast("X509 *", x509), lib.X509_free)
    cert._hash = None
    return cert


def certificates_from_stack(stack) -> list[Certificate]:
    """The certificates of a ``STACK_OF(X509)``, each holding its own
    reference."""
    return [
        certificate_from_ptr(lib.sk_X509_value(stack, i))
        for i in range(lib.sk_X509_num(stack))
    ]


class ChainedCertificate(bytes):
    """A certificate of a chain: its DER bytes, which also answer
    ``Certificate``'s ``public_bytes()`` and ``get_info()``.

    Before Python 3.13 the stdlib's SSLSocket and SSLObject had no
    ``get_verified_chain()``/``get_unverified_chain()``; code written for
    those versions takes the chain from ``_sslobj`` as Certificate objects,
    finding the method by ``hasattr`` from the outside in (truststore, in
    every pip), and so reaches pyssl's public method instead."""

    _certificate: Certificate

    def public_bytes(self, format: int = ENCODING_PEM) -> str | bytes:
        """As ``Certificate.public_bytes()``."""
        return self._certificate.public_bytes(format)

    def get_info(self) -> dict[str, Any]:
        """As ``Certificate.get_info()``."""
        return self._certificate.get_info()

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled and copied as the bytes it is.
        return bytes, (bytes(self),)


def _chained(cert: Certificate) -> ChainedCertificate:
    der = ChainedCertificate(cast(bytes, cert.public_bytes(ENCODING_DER)))
    der._certificate = cert
    return der


def chain_to_der(chain: list[Certificate] | None) -> list[bytes]:
    """A chain of Certificates as DER bytes (empty for None), the form
    ``SSLSocket.get_verified_chain()`` returns: plain bytes from Python
    3.13, which made the method public, ChainedCertificate before."""
    if chain is None:
        return []
    if _PUBLIC_CHAINS:
        return [cast(bytes, cert.public_bytes(ENCODING_DER)) for cert in chain]
    return [_chained(cert) for cert in chain]


_PUBLIC_CHAINS = sys.version_info >= (3, 13)
