"""X.509 certificates: the decoded dictionary, PEM and DER, ``Certificate``.

``decode_certificate`` builds the dictionary that ``getpeercert()``
returns. Its printed fields (serial number, dates, the general names
OpenSSL renders itself) are read back the way the stdlib reads them: the
first line of OpenSSL's output, at most 2046 bytes, so that even odd
certificates come out the same.
"""

from __future__ import annotations

import base64
import calendar
import operator
import os
import sys
import time
from typing import Any, NoReturn, SupportsIndex, cast

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
    "decode_certificate",
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

# What one BIO_gets() into the stdlib's 2048-byte buffer returns.
_LINE_LIMIT = 2046
# Object names up to this length need no second OBJ_obj2txt() call.
_NAME_BUFFER = 256
_RID_BUFFER = 2048

# An empty passphrase: OpenSSL would otherwise prompt on the terminal for
# an encrypted PEM block.
_NO_PASSPHRASE = b""


# ---- reading OpenSSL's output --------------------------------------------


def _mem_bio():
    bio = lib.BIO_new(lib.BIO_s_mem())
    if bio == ffi.NULL:
        raise error_from_queue("BIO_new")
    return bio


def _bio_contents(bio) -> bytes:
    """All bytes written to a memory BIO."""
    data = ffi.new("char **")
    size = lib.BIO_get_mem_data(bio, data)
    if data[0] == ffi.NULL or size <= 0:
        return b""
    return ffi.unpack(data[0], size)


def _printed_line(print_function, obj) -> bytes:
    """The first line print_function(bio, obj) writes.

    Like the stdlib, ignore the printer's result: ASN1_TIME_print() reports
    a bad time after writing "Bad time value", which is the value shown.
    """
    bio = _mem_bio()
    try:
        print_function(bio, obj)
        data = _bio_contents(bio)[:_LINE_LIMIT]
    finally:
        lib.BIO_free(bio)
    end = data.find(b"\n")
    if end >= 0:
        data = data[: end + 1]
    return data


def _printed_text(print_function, obj) -> str:
    return _printed_line(print_function, obj).decode("utf-8")


def _string_bytes(asn1_string) -> bytes:
    length = lib.ASN1_STRING_length(asn1_string)
    if length <= 0:
        return b""
    return ffi.buffer(lib.ASN1_STRING_get0_data(asn1_string), length)[:]


def _object_name(obj) -> str:
    """Long name of an ASN1_OBJECT, or its dotted OID if OpenSSL has none."""
    buf = ffi.new("char[]", _NAME_BUFFER)
    length = lib.OBJ_obj2txt(buf, _NAME_BUFFER, obj, 0)
    if length < 0:
        raise error_from_queue("OBJ_obj2txt")
    if length >= _NAME_BUFFER:
        buf = ffi.new("char[]", length + 1)
        length = lib.OBJ_obj2txt(buf, length + 1, obj, 0)
    return ffi.unpack(buf, length).decode("utf-8")


# ---- names ----------------------------------------------------------------


def _attribute(entry) -> tuple[str, Any]:
    name = _object_name(lib.X509_NAME_ENTRY_get_object(entry))
    value = lib.X509_NAME_ENTRY_get_data(entry)
    if lib.ASN1_STRING_type(value) == lib.V_ASN1_BIT_STRING:
        # A BIT STRING has no text form: the stdlib gives its bytes.
        return (name, _string_bytes(value))
    out = ffi.new("unsigned char **")
    length = lib.ASN1_STRING_to_UTF8(out, value)
    if length < 0:
        raise error_from_queue("ASN1_STRING_to_UTF8")
    try:
        text = ffi.buffer(out[0], length)[:] if length else b""
    finally:
        lib.OPENSSL_free(out[0])
    return (name, text.decode("utf-8"))


def _name_to_tuple(name) -> tuple:
    """A name as a tuple of RDNs, each a tuple of (name, value) pairs."""
    rdns: list[tuple] = []
    rdn: list[tuple[str, Any]] = []
    current_set = None
    for index in range(lib.X509_NAME_entry_count(name)):
        entry = lib.X509_NAME_get_entry(name, index)
        entry_set = lib.X509_NAME_ENTRY_set(entry)
        # Consecutive entries with the same set number form one
        # multi-valued RDN.
        if rdn and entry_set != current_set:
            rdns.append(tuple(rdn))
            rdn = []
        current_set = entry_set
        rdn.append(_attribute(entry))
    if rdn:
        rdns.append(tuple(rdn))
    return tuple(rdns)


# ---- extensions -------------------------------------------------------------


def _extension(x509, nid: int, ctype: str):
    """The decoded extension, or NULL when absent, repeated or malformed."""
    value = lib.X509_get_ext_d2i(x509, nid, ffi.NULL, ffi.NULL)
    if value == ffi.NULL:
        # A malformed extension leaves ASN.1 errors behind; they must not
        # be blamed on a later call.
        clear_queue()
        return ffi.NULL
    return ffi.cast(ctype, value)


def _general_name_value(general_name) -> tuple[int, Any]:
    kind = ffi.new("int *")
    value = lib.GENERAL_NAME_get0_value(general_name, kind)
    return kind[0], value


_STRING_NAME_LABELS = {
    lib.GEN_EMAIL: "email",
    lib.GEN_DNS: "DNS",
    lib.GEN_URI: "URI",
}


def _ip_address_text(octets: bytes) -> str:
    if len(octets) == 4:
        return ".".join(str(octet) for octet in octets)
    if len(octets) == 16:
        # Eight uppercase groups, no zero compression, as the stdlib prints.
        return ":".join(f"{octets[i] << 8 | octets[i + 1]:X}" for i in range(0, 16, 2))
    return "<invalid>"


def _general_name(general_name) -> tuple[str, Any]:
    kind, value = _general_name_value(general_name)
    if kind == lib.GEN_DIRNAME:
        return ("DirName", _name_to_tuple(ffi.cast("X509_NAME *", value)))
    if kind in _STRING_NAME_LABELS:
        # The raw IA5String, NUL bytes included (CVE-2013-4238).
        text = _string_bytes(ffi.cast("ASN1_STRING *", value)).decode("utf-8")
        return (_STRING_NAME_LABELS[kind], text)
    if kind == lib.GEN_RID:
        buf = ffi.new("char[]", _RID_BUFFER)
        length = lib.OBJ_obj2txt(
            buf, _RID_BUFFER - 1, ffi.cast("ASN1_OBJECT *", value), 0
        )
        if length < 0:
            raise error_from_queue("OBJ_obj2txt")
        if length >= _RID_BUFFER:
            return ("Registered ID", "<INVALID>")
        return ("Registered ID", ffi.unpack(buf, length).decode("utf-8"))
    if kind == lib.GEN_IPADD:
        octets = _string_bytes(ffi.cast("ASN1_STRING *", value))
        return ("IP Address", _ip_address_text(octets))
    # othername, x400Address, ediPartyName: OpenSSL's "label:value" form.
    line = _printed_line(lib.GENERAL_NAME_print, general_name)
    # The stdlib looks for the colon in the C string, up to the first NUL,
    # and decodes each side on its own.
    c_text = line.split(b"\0", 1)[0]
    colon = c_text.find(b":")
    if colon < 0:
        raise ValueError(f"Invalid value {c_text[:200].decode('utf-8', 'replace')}")
    return (line[:colon].decode("utf-8"), line[colon + 1 :].decode("utf-8"))


def _subject_alt_names(x509) -> tuple | None:
    names = _extension(x509, lib.NID_subject_alt_name, "GENERAL_NAMES *")
    if names == ffi.NULL:
        return None
    try:
        return tuple(
            _general_name(lib.sk_GENERAL_NAME_value(names, i))
            for i in range(lib.sk_GENERAL_NAME_num(names))
        )
    finally:
        lib.GENERAL_NAMES_free(names)


def _access_uris(x509) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The OCSP and caIssuers URIs of the Authority Information Access."""
    info = _extension(x509, lib.NID_info_access, "AUTHORITY_INFO_ACCESS *")
    if info == ffi.NULL:
        return (), ()
    uris: dict[int, list[bytes]] = {lib.NID_ad_OCSP: [], lib.NID_ad_ca_issuers: []}
    try:
        for i in range(lib.sk_ACCESS_DESCRIPTION_num(info)):
            description = lib.sk_ACCESS_DESCRIPTION_value(info, i)
            method = lib.OBJ_obj2nid(description.method)
            kind, value = _general_name_value(description.location)
            if kind == lib.GEN_URI and method in uris:
                uris[method].append(_string_bytes(value))
    finally:
        lib.AUTHORITY_INFO_ACCESS_free(info)
    # Decoded OCSP first, so a bad URI fails as it does in the stdlib.
    ocsp = tuple(uri.decode("utf-8") for uri in uris[lib.NID_ad_OCSP])
    ca_issuers = tuple(uri.decode("utf-8") for uri in uris[lib.NID_ad_ca_issuers])
    return ocsp, ca_issuers


def _crl_distribution_points(x509) -> tuple[str, ...]:
    points = _extension(x509, lib.NID_crl_distribution_points, "CRL_DIST_POINTS *")
    if points == ffi.NULL:
        return ()
    uris: list[str] = []
    try:
        for i in range(lib.sk_DIST_POINT_num(points)):
            name = lib.sk_DIST_POINT_value(points, i).distpoint
            # A point without a name (CVE-2019-5010) or with a name relative
            # to the issuer has no URI to give.
            if name == ffi.NULL or name.type != 0:
                continue
            full_name = name.name.fullname
            for j in range(lib.sk_GENERAL_NAME_num(full_name)):
                kind, value = _general_name_value(
                    lib.sk_GENERAL_NAME_value(full_name, j)
                )
                if kind == lib.GEN_URI:
                    uris.append(_string_bytes(value).decode("utf-8"))
    finally:
        lib.CRL_DIST_POINTS_free(points)
    return tuple(uris)


# ---- the decoded certificate -------------------------------------------------


def decode_certificate(x509) -> dict[str, Any]:
    """Return the certificate ``X509 *`` as the dictionary ``getpeercert()``
    gives: subject, issuer, version, serial number, validity, and the
    subjectAltName, OCSP, caIssuers and crlDistributionPoints present."""
    info: dict[str, Any] = {
        "subject": _name_to_tuple(lib.X509_get_subject_name(x509)),
        "issuer": _name_to_tuple(lib.X509_get_issuer_name(x509)),
        "version": lib.X509_get_version(x509) + 1,
        "serialNumber": _printed_text(
            lib.i2a_ASN1_INTEGER, lib.X509_get_serialNumber(x509)
        ),
        "notBefore": _printed_text(lib.ASN1_TIME_print, lib.X509_get0_notBefore(x509)),
        "notAfter": _printed_text(lib.ASN1_TIME_print, lib.X509_get0_notAfter(x509)),
    }
    # An empty subjectAltName is still reported; the others only if not.
    alt_names = _subject_alt_names(x509)
    if alt_names is not None:
        info["subjectAltName"] = alt_names
    ocsp, ca_issuers = _access_uris(x509)
    if ocsp:
        info["OCSP"] = ocsp
    if ca_issuers:
        info["caIssuers"] = ca_issuers
    points = _crl_distribution_points(x509)
    if points:
        info["crlDistributionPoints"] = points
    return info


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
        bio = _mem_bio()
        try:
            written = lib.X509_NAME_print_ex(
                bio, lib.X509_get_subject_name(self._x509), 0, lib.XN_FLAG_RFC2253
            )
            # An empty subject prints nothing, which the stdlib reports as
            # an error too.
            if written <= 0:
                raise error_from_queue("X509_NAME_print_ex")
            subject = _bio_contents(bio).decode("utf-8")
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
