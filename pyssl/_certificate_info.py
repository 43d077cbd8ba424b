"""The dictionary ``getpeercert()`` and ``Certificate.get_info()`` return,
decoded from an ``X509 *``: subject, issuer, version, serial number,
validity, subjectAltName, OCSP, caIssuers and crlDistributionPoints.

Its printed fields (serial number, dates, the general names OpenSSL
renders itself) are read back the way the stdlib reads them: the first
line of OpenSSL's output, at most 2046 bytes, so that even odd
certificates come out the same.
"""

from __future__ import annotations

from typing import Any

from pyssl._errors import clear_queue, error_from_queue
from pyssl._lib import ffi, lib

# What one BIO_gets() into the stdlib's 2048-byte buffer returns.
_LINE_LIMIT = 2046
# Object names up to this length need no second OBJ_obj2txt() call.
_NAME_BUFFER = 256
_RID_BUFFER = 2048


# ---- reading OpenSSL's output --------------------------------------------


def mem_bio():
    """A new, empty memory BIO, for the caller to free."""
    bio = lib.BIO_new(lib.BIO_s_mem())
    if bio == ffi.NULL:
        raise error_from_queue("BIO_new")
    return bio


def bio_contents(bio) -> bytes:
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
    bio = mem_bio()
    try:
        print_function(bio, obj)
        data = bio_contents(bio)[:_LINE_LIMIT]
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
