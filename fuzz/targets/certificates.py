"""Certificate decoding: ``_test_decode_cert`` (the dictionary
``getpeercert()`` returns), ``DER_cert_to_PEM_cert`` and
``PEM_cert_to_DER_cert``, each compared with the stdlib on the same input.

The first byte picks what the rest is:
  0  DER bytes, wrapped in PEM for ``_test_decode_cert``;
  1  the text of a PEM file, as it is;
  2  the fields of a certificate that ``cryptography`` signs: names made of
     any attribute types and string types, dates, serial number, and
     extensions whose DER values are raw fuzz bytes (subjectAltName,
     authorityInfoAccess, crlDistributionPoints, ...), so that mutations
     land inside a certificate that still parses.
"""

from __future__ import annotations

import datetime

from _harness import (
    Finding,
    ascii_text,
    outcome,
    pyssl,
    reference,
    run,
    same,
    scratch_file,
    stdlib_ssl,
)
from _layout import Reader
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtensionOID, NameOID, ObjectIdentifier

KEY = ec.generate_private_key(ec.SECP256R1())
NAME_OIDS = [
    NameOID.COMMON_NAME, NameOID.COUNTRY_NAME, NameOID.ORGANIZATION_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.LOCALITY_NAME, NameOID.EMAIL_ADDRESS,
    NameOID.DOMAIN_COMPONENT, NameOID.USER_ID, NameOID.SERIAL_NUMBER,
    NameOID.BUSINESS_CATEGORY, ObjectIdentifier("1.2.3.4.5"),
    ObjectIdentifier("2.999.1"),
]  # fmt: skip
# The string types a name attribute may take (BitString only for one OID).
STRING_TYPES = [
    _ASN1Type.UTF8String, _ASN1Type.PrintableString, _ASN1Type.IA5String,
    _ASN1Type.BMPString, _ASN1Type.UniversalString, _ASN1Type.T61String,
    _ASN1Type.NumericString, _ASN1Type.VisibleString, _ASN1Type.OctetString,
    _ASN1Type.UTCTime, _ASN1Type.GeneralizedTime,
]  # fmt: skip
EXTENSION_OIDS = [
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
    ExtensionOID.CRL_DISTRIBUTION_POINTS, ExtensionOID.ISSUER_ALTERNATIVE_NAME,
    ExtensionOID.BASIC_CONSTRAINTS, ObjectIdentifier("1.2.3.4.6"),
]  # fmt: skip
EPOCH = datetime.datetime(1950, 1, 1)  # the earliest cryptography writes
SPAN = (datetime.datetime(9999, 12, 31) - EPOCH).total_seconds()


def read_name(reader: Reader) -> x509.Name:
    rdns: list[list[x509.NameAttribute]] = []
    for _ in range(reader.byte() % 5):
        shape = reader.byte()
        oid = NAME_OIDS[shape % len(NAME_OIDS)]
        string_type = reader.choice(STRING_TYPES)
        value = reader.chunk().decode("utf-8", "replace")
        attribute = x509.NameAttribute(oid, value, _type=string_type)
        if shape & 0x80 and rdns:  # a multi-valued RDN
            rdns[-1].append(attribute)
        else:
            rdns.append([attribute])
    return x509.Name([x509.RelativeDistinguishedName(rdn) for rdn in rdns])


def read_time(reader: Reader) -> datetime.datetime:
    return EPOCH + datetime.timedelta(seconds=reader.number(5) % int(SPAN))


def made_certificate(reader: Reader) -> bytes | None:
    """The PEM of the certificate the input describes, or None where
    ``cryptography`` refuses the fields."""
    try:
        subject = read_name(reader)
        issuer = read_name(reader)
        not_before, not_after = read_time(reader), read_time(reader)
        serial = int.from_bytes(reader.chunk()[:19], "big") or 1
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(KEY.public_key()).serial_number(serial)
            .not_valid_before(not_before).not_valid_after(not_after)
        )  # fmt: skip
        for _ in range(reader.byte() % 6):
            shape = reader.byte()
            oid = EXTENSION_OIDS[shape % len(EXTENSION_OIDS)]
            extension = x509.UnrecognizedExtension(oid, reader.chunk())
            builder = builder.add_extension(extension, critical=bool(shape & 0x80))
        certificate = builder.sign(KEY, hashes.SHA256())
    except Exception:  # cryptography's own checks: not what is fuzzed here
        return None
    return certificate.public_bytes(serialization.Encoding.PEM)


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0] % 3, data[1:]
    if mode == 0:
        pem = pyssl.DER_cert_to_PEM_cert(body)
        if stdlib_ssl is not None and pem != stdlib_ssl.DER_cert_to_PEM_cert(body):
            raise Finding("DER_cert_to_PEM_cert differs from the stdlib")
        # Back again: the round trip gives the same bytes.
        if pyssl.PEM_cert_to_DER_cert(pem) != body:
            raise Finding("PEM_cert_to_DER_cert(DER_cert_to_PEM_cert(der)) != der")
        content = pem.encode("ascii")
    elif mode == 1:
        content = body
        text = ascii_text(body)
        ours = outcome(lambda: pyssl.PEM_cert_to_DER_cert(text))
        if stdlib_ssl is not None:
            same(
                "PEM_cert_to_DER_cert",
                ours,
                reference(lambda: stdlib_ssl.PEM_cert_to_DER_cert(text)),
            )
    else:
        made = made_certificate(Reader(body))
        if made is None:
            return
        content = made
    path = scratch_file("cert.pem", content)
    ours = outcome(lambda: pyssl._ssl._test_decode_cert(path))
    if ours[0] == "returned" and not isinstance(ours[1], dict):
        raise Finding(f"_test_decode_cert returned {ours[1]!r}")
    if stdlib_ssl is not None:
        same(
            "_test_decode_cert",
            ours,
            reference(lambda: stdlib_ssl._ssl._test_decode_cert(path)),
        )


if __name__ == "__main__":
    run(TestOneInput)
