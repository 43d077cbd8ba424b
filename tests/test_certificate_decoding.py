"""Certificate decoding: pyssl's dictionary against the stdlib's.

Each test decodes a certificate with ``pyssl._x509.test_decode_cert`` and
with the stdlib's ``_ssl._test_decode_cert`` and asserts the exact result
and, where both link the same OpenSSL release, that the two agree. Certificates are CPython's own test files,
ones made here with ``cryptography``, or raw DER built below for what
``cryptography`` refuses to make (v1, odd serials and times, broken
extensions); decoding never checks the signature, so theirs is a dummy.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import random

import pytest
from ssl_modules import openssl_at_least, same_openssl

import pyssl
from pyssl import _certificate_info, _x509
from pyssl._errors import SSLError
from pyssl._lib import lib

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.x509.name import _ASN1Type  # noqa: E402
from cryptography.x509.oid import (  # noqa: E402
    AuthorityInformationAccessOID,
    NameOID,
    ObjectIdentifier,
)


def outcome(decode, path):
    """The decoded dict, or the exception's class name and arguments."""
    try:
        return decode(path)
    except Exception as exc:  # compared by name: the classes differ
        return (type(exc).__name__, exc.args)


@pytest.fixture
def decode(stdlib_ssl):
    """Decode with pyssl, asserting the stdlib gives the same outcome where
    it links the same OpenSSL release (releases parse some fields apart)."""

    def run(path):
        ours = outcome(_x509.test_decode_cert, path)
        if same_openssl(stdlib_ssl):
            assert ours == outcome(stdlib_ssl._ssl._test_decode_cert, path)
        return ours

    return run


# ---- raw DER -----------------------------------------------------------------


def tlv(tag: int, content: bytes) -> bytes:
    if len(content) < 0x80:
        length = bytes([len(content)])
    else:
        raw = len(content).to_bytes((len(content).bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def seq(*items: bytes) -> bytes:
    return tlv(0x30, b"".join(items))


def oid_der(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return tlv(0x06, bytes(body))


def utc_time(text: str) -> bytes:
    return tlv(0x17, text.encode("ascii"))


def generalized_time(text: str) -> bytes:
    return tlv(0x18, text.encode("ascii"))


def extension(dotted: str, value: bytes) -> bytes:
    return seq(oid_der(dotted), tlv(0x04, value))


SAN = "2.5.29.17"
CRL_DP = "2.5.29.31"
AIA = "1.3.6.1.5.5.7.1.1"
UPN = "1.3.6.1.4.1.311.20.2.3"  # Microsoft's user principal name
COMMON_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "raw.example")])


@pytest.fixture
def make_raw_certificate(tmp_path, certificate_key):
    """Write an unsigned certificate from DER parts; return its PEM path."""
    spki = certificate_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signature_algorithm = seq(oid_der("1.2.840.10045.4.3.2"))  # ecdsa-with-SHA256

    def make(
        version: int | None = 2,
        serial: bytes = tlv(0x02, b"\x01"),
        not_before: bytes = utc_time("200102030405Z"),
        not_after: bytes = utc_time("400607080910Z"),
        subject: bytes = COMMON_NAME.public_bytes(),
        extensions: list[bytes] | None = None,
    ) -> str:
        parts = []
        if version is not None:
            parts.append(tlv(0xA0, tlv(0x02, bytes([version]))))
        parts += [
            serial,
            signature_algorithm,
            subject,
            seq(not_before, not_after),
            subject,
            spki,
        ]
        if extensions is not None:
            parts.append(tlv(0xA3, seq(*extensions)))
        der = seq(seq(*parts), signature_algorithm, tlv(0x03, b"\x00" + b"\x01" * 8))
        path = tmp_path / f"raw-{len(list(tmp_path.iterdir()))}.pem"
        body = base64.encodebytes(der).decode("ascii")
        path.write_text(
            f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"
        )
        return str(path)

    return make


def san(*general_names: bytes) -> bytes:
    return extension(SAN, seq(*general_names))


# ---- CPython's test certificates ---------------------------------------------

CPYTHON_CERTIFICATES = [
    "allsans.pem",
    "idnsans.pem",
    "keycert.pem",
    "nokia.pem",
    "nullbytecert.pem",
    "talos-2019-0758.pem",
]


@pytest.mark.parametrize("name", CPYTHON_CERTIFICATES)
def test_cpython_test_certificate_decodes_as_in_stdlib(
    name, cpython_test_certificate, stdlib_ssl
):
    path = cpython_test_certificate(name)
    assert _x509.test_decode_cert(path) == stdlib_ssl._ssl._test_decode_cert(path)


def test_nul_bytes_in_names_are_kept(cpython_test_certificate, decode):
    info = decode(cpython_test_certificate("nullbytecert.pem"))
    assert info["subject"][5] == (("commonName", "null.python.org\x00example.org"),)
    assert info["subjectAltName"] == (
        ("DNS", "altnull.python.org\x00example.com"),
        ("email", "null@python.org\x00user@example.org"),
        ("URI", "http://null.python.org\x00http://example.org"),
        ("IP Address", "192.0.2.1"),
        ("IP Address", "2001:DB8:0:0:0:0:0:1"),
    )
    assert info["serialNumber"] == "00"


def test_every_general_name_kind_of_allsans(cpython_test_certificate, decode):
    info = decode(cpython_test_certificate("allsans.pem"))
    assert info["subjectAltName"] == (
        ("DNS", "allsans"),
        ("othername", "<unsupported>"),
        ("othername", "<unsupported>"),
        ("email", "user@example.org"),
        ("DNS", "www.example.org"),
        (
            "DirName",
            (
                (("countryName", "XY"),),
                (("localityName", "Castle Anthrax"),),
                (("organizationName", "Python Software Foundation"),),
                (("commonName", "dirname example"),),
            ),
        ),
        ("URI", "https://www.python.org/"),
        ("IP Address", "127.0.0.1"),
        ("IP Address", "0:0:0:0:0:0:0:1"),
        ("Registered ID", "1.2.3.4.5"),
    )


def test_distribution_point_without_full_name_gives_no_uri(
    cpython_test_certificate, decode
):
    # talos-2019-0758 has a CRL distribution point with no name at all.
    info = decode(cpython_test_certificate("talos-2019-0758.pem"))
    assert "crlDistributionPoints" not in info
    assert info["subjectAltName"] == (("DNS", "codenomicon-vm-2.test.lal.cisco.com"),)


def test_aia_and_crl_uris_of_nokia(cpython_test_certificate, decode):
    info = decode(cpython_test_certificate("nokia.pem"))
    assert info["OCSP"] == ("http://ocsp.verisign.com",)
    assert info["caIssuers"] == ("http://SVRIntl-G3-aia.verisign.com/SVRIntlG3.cer",)
    assert info["crlDistributionPoints"] == (
        "http://SVRIntl-G3-crl.verisign.com/SVRIntlG3.crl",
    )


# ---- names --------------------------------------------------------------------


def test_multi_valued_rdn_is_one_tuple(make_certificate, decode):
    subject = x509.Name(
        [
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Org"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Unit"),
                ]
            ),
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(NameOID.COMMON_NAME, "host")]
            ),
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "XY"),
                    x509.NameAttribute(NameOID.LOCALITY_NAME, "Town"),
                    x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "State"),
                ]
            ),
        ]
    )
    info = decode(make_certificate(subject=subject))
    assert info["subject"] == (
        (("organizationName", "Org"), ("organizationalUnitName", "Unit")),
        (("commonName", "host"),),
        (
            ("countryName", "XY"),
            ("localityName", "Town"),
            ("stateOrProvinceName", "State"),
        ),
    )
    assert info["issuer"] == info["subject"]


@pytest.mark.parametrize(
    ("string_type", "value"),
    [
        (_ASN1Type.UTF8String, "Grüße, 日本 🐍"),
        (_ASN1Type.BMPString, "Ünïcødé ☃"),
        (_ASN1Type.UniversalString, "clef 𝄞"),
        (_ASN1Type.PrintableString, "Plain Text"),
        (_ASN1Type.IA5String, "ia5@example"),
    ],
    ids=lambda v: getattr(v, "name", None),
)
def test_subject_string_types_decode_to_text(
    make_certificate, decode, string_type, value
):
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, value, _type=string_type)]
    )
    info = decode(make_certificate(subject=subject))
    assert info["subject"] == ((("commonName", value),),)


def test_teletex_string_bytes_are_latin_1(make_raw_certificate, decode):
    name = seq(tlv(0x31, seq(oid_der("2.5.4.3"), tlv(0x14, "café".encode("latin-1")))))
    info = decode(make_raw_certificate(subject=name))
    assert info["subject"] == ((("commonName", "café"),),)


def test_bit_string_attribute_is_bytes(make_raw_certificate, decode):
    # x500UniqueIdentifier is a BIT STRING: the stdlib gives its octets.
    name = seq(tlv(0x31, seq(oid_der("2.5.4.45"), tlv(0x03, b"\x00\xab\xcd"))))
    info = decode(make_raw_certificate(subject=name))
    assert info["subject"] == ((("x500UniqueIdentifier", b"\xab\xcd"),),)


def test_unknown_attribute_is_named_by_dotted_oid(make_certificate, decode):
    subject = x509.Name([x509.NameAttribute(ObjectIdentifier("1.2.3.4.5"), "value")])
    info = decode(make_certificate(subject=subject))
    assert info["subject"] == ((("1.2.3.4.5", "value"),),)


def test_attribute_oid_longer_than_256_characters(make_raw_certificate, decode):
    dotted = "1.2." + ".".join(["123456789"] * 30)
    name = seq(tlv(0x31, seq(oid_der(dotted), tlv(0x0C, b"long"))))
    info = decode(make_raw_certificate(subject=name))
    assert len(dotted) > 256
    assert info["subject"] == (((dotted, "long"),),)


def test_name_with_invalid_utf8_is_not_a_certificate(make_raw_certificate, decode):
    # OpenSSL checks names while parsing, so the file fails to decode.
    name = seq(tlv(0x31, seq(oid_der("2.5.4.3"), tlv(0x0C, b"bad \xff"))))
    assert decode(make_raw_certificate(subject=name)) == (
        "SSLError",
        ("Error decoding PEM-encoded file",),
    )


# ---- subjectAltName ------------------------------------------------------------


def test_every_subject_alt_name_kind(make_certificate, decode):
    dirname = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "XY"),
            x509.NameAttribute(NameOID.COMMON_NAME, "dir name"),
        ]
    )
    names = x509.SubjectAlternativeName(
        [
            x509.DNSName("www.example.org"),
            x509.RFC822Name("user@example.org"),
            x509.UniformResourceIdentifier("https://example.org/path?q=1"),
            x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
            x509.IPAddress(ipaddress.ip_address("2001:db8::1:0:0:1")),
            x509.DirectoryName(dirname),
            x509.RegisteredID(ObjectIdentifier("1.2.3.4.5")),
            x509.RegisteredID(ObjectIdentifier("2.5.4.3")),
            # UPN, SmtpUTF8Mailbox: UTF8String values OpenSSL prints.
            x509.OtherName(ObjectIdentifier(UPN), tlv(0x0C, b"upn@realm")),
            x509.OtherName(
                ObjectIdentifier("1.3.6.1.5.5.7.8.9"), tlv(0x0C, "jö@x".encode())
            ),
            x509.OtherName(ObjectIdentifier("1.2.3.4"), tlv(0x0C, b"private")),
        ]
    )
    info = decode(make_certificate(extensions=[names]))
    assert info["subjectAltName"] == (
        ("DNS", "www.example.org"),
        ("email", "user@example.org"),
        ("URI", "https://example.org/path?q=1"),
        ("IP Address", "192.0.2.7"),
        ("IP Address", "2001:DB8:0:0:1:0:0:1"),
        ("DirName", ((("countryName", "XY"),), (("commonName", "dir name"),))),
        ("Registered ID", "1.2.3.4.5"),
        ("Registered ID", "commonName"),
        ("othername", "UPN:upn@realm"),
        ("othername", "SmtpUTF8Mailbox:jö@x"),
        ("othername", "<unsupported>"),
    )


@pytest.mark.parametrize(
    ("address", "printed"),
    [
        ("::", "0:0:0:0:0:0:0:0"),
        ("::1", "0:0:0:0:0:0:0:1"),
        ("2001:db8::", "2001:DB8:0:0:0:0:0:0"),
        ("fe80::abcd:ef01", "FE80:0:0:0:0:0:ABCD:EF01"),
        ("::ffff:192.0.2.1", "0:0:0:0:0:FFFF:C000:201"),
        (
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF",
        ),
        ("0.0.0.0", "0.0.0.0"),
        ("255.255.255.255", "255.255.255.255"),
    ],
)
def test_ip_address_is_printed_without_compression(
    make_certificate, decode, address, printed
):
    names = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))])
    info = decode(make_certificate(extensions=[names]))
    assert info["subjectAltName"] == (("IP Address", printed),)


def test_ip_address_of_other_length_is_invalid(make_raw_certificate, decode):
    path = make_raw_certificate(
        extensions=[san(tlv(0x87, b"\x01\x02\x03\x04\x05"), tlv(0x87, b""))]
    )
    info = decode(path)
    assert info["subjectAltName"] == (
        ("IP Address", "<invalid>"),
        ("IP Address", "<invalid>"),
    )


def test_x400_and_edi_party_names_are_unsupported(make_raw_certificate, decode):
    x400_address = tlv(0xA3, b"")
    edi_party = tlv(0xA5, tlv(0xA1, tlv(0x0C, b"party")))
    info = decode(make_raw_certificate(extensions=[san(x400_address, edi_party)]))
    assert info["subjectAltName"] == (
        ("X400Name", "<unsupported>"),
        ("EdiPartyName", "<unsupported>"),
    )


def test_other_name_value_stops_at_newline(make_raw_certificate, decode):
    # OpenSSL prints the UPN; the stdlib reads one line of that output.
    upn = tlv(0xA0, oid_der(UPN) + tlv(0xA0, tlv(0x0C, b"a\nb:c")))
    info = decode(make_raw_certificate(extensions=[san(upn)]))
    assert info["subjectAltName"] == (("othername", "UPN:a\n"),)


def test_other_name_value_stops_at_nul(make_raw_certificate, decode):
    upn = tlv(0xA0, oid_der(UPN) + tlv(0xA0, tlv(0x0C, b"a\0b")))
    info = decode(make_raw_certificate(extensions=[san(upn)]))
    assert info["subjectAltName"] == (("othername", "UPN:a"),)


def test_long_registered_id_is_printed_whole(make_raw_certificate, decode):
    # 500 octets: OpenSSL prints OIDs of up to 586.
    dotted = "1.2." + ".".join(["4294967295"] * 100)
    info = decode(
        make_raw_certificate(extensions=[san(tlv(0x88, _implicit_oid(dotted)))])
    )
    assert info["subjectAltName"] == (("Registered ID", dotted),)


def test_registered_id_too_long_to_print_raises_ssl_error(
    make_raw_certificate, stdlib_ssl
):
    # OpenSSL refuses to print an OID of more than 586 octets.
    dotted = "1.2." + ".".join(["4294967295"] * 200)
    path = make_raw_certificate(extensions=[san(tlv(0x88, _implicit_oid(dotted)))])
    with pytest.raises(stdlib_ssl.SSLError):
        stdlib_ssl._ssl._test_decode_cert(path)
    with pytest.raises(SSLError) as raised:
        _x509.test_decode_cert(path)
    # OpenSSL queues no error for it. (The stdlib's number is whatever its
    # queue last held, which pyssl clears only where they share libcrypto.)
    assert raised.value.args[0] == 0


def _implicit_oid(dotted: str) -> bytes:
    """The content octets of an OID, for an implicitly tagged one."""
    encoded = oid_der(dotted)
    length_octets = 1 if encoded[1] < 0x80 else 1 + (encoded[1] & 0x7F)
    return encoded[1 + length_octets :]


def test_other_name_value_is_decoded_apart_from_its_label(make_raw_certificate, decode):
    upn = tlv(0xA0, oid_der(UPN) + tlv(0xA0, tlv(0x0C, b"\xab@realm")))
    name, args = decode(make_raw_certificate(extensions=[san(upn)]))
    assert (name, args[1]) == ("UnicodeDecodeError", b"UPN:\xab@realm")


def test_other_name_of_unexpected_string_type_is_unsupported(
    make_raw_certificate, decode
):
    upn = tlv(0xA0, oid_der(UPN) + tlv(0xA0, tlv(0x16, b"ia5@realm")))
    info = decode(make_raw_certificate(extensions=[san(upn)]))
    assert info["subjectAltName"] == (("othername", "<unsupported>"),)


def test_names_with_nul_bytes_keep_them(make_raw_certificate, decode):
    path = make_raw_certificate(
        extensions=[
            san(
                tlv(0x82, b"a.example\0b.example"),
                tlv(0x81, b"me@a\0you@b"),
                tlv(0x86, b"https://a/\0https://b/"),
            )
        ]
    )
    info = decode(path)
    assert info["subjectAltName"] == (
        ("DNS", "a.example\0b.example"),
        ("email", "me@a\0you@b"),
        ("URI", "https://a/\0https://b/"),
    )


def test_non_utf8_dns_name_raises_unicode_decode_error(make_raw_certificate, decode):
    name, args = decode(
        make_raw_certificate(extensions=[san(tlv(0x82, b"caf\xe9.example"))])
    )
    assert name == "UnicodeDecodeError"
    assert args == ("utf-8", b"caf\xe9.example", 3, 4, "invalid continuation byte")


def test_empty_subject_alt_name_is_an_empty_tuple(make_raw_certificate, decode):
    info = decode(make_raw_certificate(extensions=[san()]))
    assert info["subjectAltName"] == ()


def test_repeated_subject_alt_name_is_left_out(make_raw_certificate, decode):
    path = make_raw_certificate(extensions=[san(tlv(0x82, b"a")), san(tlv(0x82, b"b"))])
    info = decode(path)
    assert "subjectAltName" not in info


def test_malformed_extensions_are_left_out(make_raw_certificate, decode):
    path = make_raw_certificate(
        extensions=[
            extension(SAN, b"\x30\x05\x82\x01"),
            extension(AIA, b"\x04\x00"),
            extension(CRL_DP, b"\xff"),
        ]
    )
    lib.ERR_clear_error()
    _x509.test_decode_cert(path)
    # Nothing is left in OpenSSL's error queue to be blamed on a later call.
    assert lib.ERR_peek_error() == 0
    info = decode(path)
    assert set(info) == {
        "subject",
        "issuer",
        "version",
        "serialNumber",
        "notBefore",
        "notAfter",
    }


# ---- Authority Information Access and CRL distribution points ----------------


def access(method, name) -> x509.AccessDescription:
    return x509.AccessDescription(method, name)


def test_every_ocsp_and_ca_issuers_uri_is_listed(make_certificate, decode):
    ocsp = AuthorityInformationAccessOID.OCSP
    ca_issuers = AuthorityInformationAccessOID.CA_ISSUERS
    uri = x509.UniformResourceIdentifier
    info_access = x509.AuthorityInformationAccess(
        [
            access(ocsp, uri("http://ocsp1.example/")),
            access(ca_issuers, uri("http://ca.example/ca1.der")),
            access(ocsp, uri("http://ocsp2.example/")),
            # Only URIs count.
            access(ocsp, x509.DNSName("ocsp3.example")),
            access(ca_issuers, uri("ldap://ca.example/cn=CA")),
            access(
                ObjectIdentifier("1.3.6.1.5.5.7.48.5"),
                uri("http://repository.example/"),
            ),
        ]
    )
    info = decode(make_certificate(extensions=[info_access]))
    assert info["OCSP"] == ("http://ocsp1.example/", "http://ocsp2.example/")
    assert info["caIssuers"] == ("http://ca.example/ca1.der", "ldap://ca.example/cn=CA")


def test_bad_ocsp_uri_fails_before_bad_ca_issuers_uri(make_raw_certificate, decode):
    # The stdlib decodes every OCSP URI before any caIssuers URI.
    path = make_raw_certificate(
        extensions=[
            extension(
                AIA,
                seq(
                    seq(oid_der("1.3.6.1.5.5.7.48.2"), tlv(0x86, b"http://ca\xff/")),
                    seq(oid_der("1.3.6.1.5.5.7.48.1"), tlv(0x86, b"http://ocsp\xfe/")),
                ),
            )
        ]
    )
    name, args = decode(path)
    assert (name, args[1]) == ("UnicodeDecodeError", b"http://ocsp\xfe/")


def test_access_method_without_uri_is_left_out(make_certificate, decode):
    info_access = x509.AuthorityInformationAccess(
        [
            access(AuthorityInformationAccessOID.OCSP, x509.DNSName("ocsp.example")),
            access(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier("http://ca.example/"),
            ),
        ]
    )
    info = decode(make_certificate(extensions=[info_access]))
    assert "OCSP" not in info
    assert info["caIssuers"] == ("http://ca.example/",)


def test_empty_access_information_is_left_out(make_raw_certificate, decode):
    info = decode(make_raw_certificate(extensions=[extension(AIA, seq())]))
    assert "OCSP" not in info and "caIssuers" not in info


def test_crl_distribution_point_uris_in_order(make_certificate, decode):
    uri = x509.UniformResourceIdentifier
    points = x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                [uri("http://crl1.example/a.crl"), x509.DNSName("x")], None, None, None
            ),
            # Names relative to the issuer and issuer-only points hold no URI.
            x509.DistributionPoint(
                None,
                x509.RelativeDistinguishedName(
                    [x509.NameAttribute(NameOID.COMMON_NAME, "crl")]
                ),
                None,
                None,
            ),
            x509.DistributionPoint(None, None, None, [uri("http://issuer.example/")]),
            x509.DistributionPoint(
                [uri("http://crl2.example/b.crl"), uri("ldap://crl.example/cn=CRL")],
                None,
                frozenset([x509.ReasonFlags.key_compromise]),
                None,
            ),
        ]
    )
    info = decode(make_certificate(extensions=[points]))
    assert info["crlDistributionPoints"] == (
        "http://crl1.example/a.crl",
        "http://crl2.example/b.crl",
        "ldap://crl.example/cn=CRL",
    )


def test_crl_distribution_points_without_uri_are_left_out(make_certificate, decode):
    points = x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.DNSName("crl.example")], None, None, None)]
    )
    info = decode(make_certificate(extensions=[points]))
    assert "crlDistributionPoints" not in info


# ---- serial number, version, validity ------------------------------------------


@pytest.mark.parametrize(
    ("serial", "printed"),
    [
        (1, "01"),
        (0x0ABC, "0ABC"),
        (0x80, "80"),
        (0x00FF00, "FF00"),
        ((1 << 159) - 1, "7F" + "FF" * 19),
    ],
)
def test_serial_number_is_uppercase_hex_octets(
    make_certificate, decode, serial, printed
):
    info = decode(make_certificate(serial=serial))
    assert info["serialNumber"] == printed


@pytest.mark.parametrize(
    ("content", "printed"),
    [
        (b"\x00", "00"),
        (b"\x00\x80", "80"),
        (b"\xff", "-01"),
        (b"\x80", "-80"),
        (b"\x01\x00", "0100"),
    ],
)
def test_unusual_serial_numbers_print_as_openssl(
    make_raw_certificate, decode, content, printed
):
    info = decode(make_raw_certificate(serial=tlv(0x02, content)))
    assert info["serialNumber"] == printed


def test_serial_longer_than_35_octets_shows_only_the_first_line(
    make_raw_certificate, decode
):
    # OpenSSL breaks the hex after every 35 octets; one line is read back.
    content = bytes(range(1, 41))
    info = decode(make_raw_certificate(serial=tlv(0x02, content)))
    assert info["serialNumber"] == content[:35].hex().upper() + "\\\n"


def test_version_1_certificate(make_raw_certificate, decode):
    info = decode(make_raw_certificate(version=None))
    assert info["version"] == 1
    assert set(info) == {
        "subject",
        "issuer",
        "version",
        "serialNumber",
        "notBefore",
        "notAfter",
    }


def test_version_2_certificate(make_raw_certificate, decode):
    info = decode(make_raw_certificate(version=1, extensions=None))
    assert info["version"] == 2


def test_validity_in_utc_time_and_generalized_time(make_certificate, decode):
    # Dates from 2050 on are encoded as GeneralizedTime (RFC 5280).
    path = make_certificate(
        not_before=datetime.datetime(1999, 12, 31, 23, 59, 59),
        not_after=datetime.datetime(2050, 1, 1, 0, 0, 0),
    )
    info = decode(path)
    assert info["notBefore"] == "Dec 31 23:59:59 1999 GMT"
    assert info["notAfter"] == "Jan  1 00:00:00 2050 GMT"


@pytest.mark.parametrize(
    ("encoded", "printed"),
    [
        (utc_time("491231235959Z"), "Dec 31 23:59:59 2049 GMT"),
        (utc_time("500101000000Z"), "Jan  1 00:00:00 1950 GMT"),
        (generalized_time("20000229120000Z"), "Feb 29 12:00:00 2000 GMT"),
        (generalized_time("99991231235959Z"), "Dec 31 23:59:59 9999 GMT"),
        (generalized_time("20200102030405.25Z"), "Jan  2 03:04:05.25 2020 GMT"),
        (utc_time("200102030460Z"), "Bad time value"),
        (generalized_time("20201302030405Z"), "Bad time value"),
    ],
)
def test_validity_is_printed_as_openssl(make_raw_certificate, decode, encoded, printed):
    info = decode(make_raw_certificate(not_before=encoded))
    assert info["notBefore"] == printed
    assert info["notAfter"] == "Jun  7 08:09:10 2040 GMT"


def test_utc_time_without_seconds(make_raw_certificate, decode):
    # X.690 wants the seconds. OpenSSL 3.3 and later refuse such a time when
    # parsing, so the certificate does not load; earlier releases print :00.
    result = decode(make_raw_certificate(not_before=utc_time("2001020304Z")))
    if openssl_at_least(pyssl, 3, 3):
        assert result == ("SSLError", ("Error decoding PEM-encoded file",))
    else:
        assert result["notBefore"] == "Jan  2 03:04:00 2020 GMT"


# ---- damaged certificates --------------------------------------------------------


def _comparable(result):
    # An SSLError raised from OpenSSL's queue names where it was raised
    # (_ssl.c:1234 against pyssl:function): compare only its number.
    if isinstance(result, tuple) and result[0] == "SSLError" and len(result[1]) == 2:
        return ("SSLError", result[1][0])
    return result


def test_damaged_certificates_decode_as_in_stdlib(
    make_certificate, stdlib_ssl, tmp_path
):
    uri = x509.UniformResourceIdentifier
    path = make_certificate(
        subject=x509.Name(
            [
                x509.RelativeDistinguishedName(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, "fuzz"),
                        x509.NameAttribute(
                            NameOID.ORGANIZATION_NAME, "Ünï", _type=_ASN1Type.BMPString
                        ),
                    ]
                )
            ]
        ),
        extensions=[
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("a.example"),
                    x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
                    x509.DirectoryName(
                        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "d")])
                    ),
                    x509.RegisteredID(ObjectIdentifier("1.2.3")),
                    x509.OtherName(ObjectIdentifier(UPN), tlv(0x0C, b"u@r")),
                ]
            ),
            x509.AuthorityInformationAccess(
                [access(AuthorityInformationAccessOID.OCSP, uri("http://o.example/"))]
            ),
            x509.CRLDistributionPoints(
                [x509.DistributionPoint([uri("http://c.example/")], None, None, None)]
            ),
        ],
    )
    with open(path, "rb") as f:
        der = base64.decodebytes(b"".join(f.read().splitlines()[1:-1]))
    rng = random.Random(20240229)
    target = tmp_path / "damaged.pem"
    decoded = 0
    for _ in range(600):
        damaged = bytearray(der)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        body = base64.encodebytes(bytes(damaged)).decode("ascii")
        target.write_text(
            f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"
        )
        ours = _comparable(outcome(_x509.test_decode_cert, str(target)))
        assert ours == _comparable(
            outcome(stdlib_ssl._ssl._test_decode_cert, str(target))
        )
        decoded += isinstance(ours, dict)
    # Most damage lands in the key or the signature, which decoding skips.
    assert decoded > 100


# ---- test_decode_cert's argument and errors ---------------------------------------


def test_missing_file_raises_ssl_error(tmp_path, stdlib_ssl):
    path = str(tmp_path / "missing.pem")
    with pytest.raises(SSLError) as raised:
        _x509.test_decode_cert(path)
    assert raised.value.args == ("Can't open file",)
    assert outcome(stdlib_ssl._ssl._test_decode_cert, path) == (
        "SSLError",
        raised.value.args,
    )


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a certificate\n",
        b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
    ],
)
def test_file_without_certificate_raises_ssl_error(tmp_path, stdlib_ssl, content):
    path = tmp_path / "junk.pem"
    path.write_bytes(content)
    with pytest.raises(SSLError) as raised:
        _x509.test_decode_cert(path)
    assert raised.value.args == ("Error decoding PEM-encoded file",)
    assert lib.ERR_peek_error() == 0
    assert outcome(stdlib_ssl._ssl._test_decode_cert, path) == (
        "SSLError",
        raised.value.args,
    )


def test_directory_is_not_a_certificate(tmp_path, decode):
    assert decode(str(tmp_path)) == ("SSLError", ("Error decoding PEM-encoded file",))


def test_path_may_be_str_bytes_or_path_like(make_certificate, decode):
    import pathlib

    path = make_certificate()
    expected = decode(path)
    assert decode(path.encode()) == expected
    assert decode(pathlib.Path(path)) == expected


@pytest.mark.parametrize(
    ("path", "error"),
    [
        (1, ("TypeError", ("expected str, bytes or os.PathLike object, not int",))),
        ("a\0b", ("ValueError", ("embedded null byte",))),
        (b"a\0b", ("ValueError", ("embedded null byte",))),
    ],
)
def test_bad_path_arguments_raise_as_in_stdlib(decode, path, error):
    assert decode(path) == error


# ---- the pointer-level API -------------------------------------------------------------


def test_decode_certificate_of_loaded_pointer(make_certificate, decode):
    path = make_certificate(
        extensions=[x509.SubjectAlternativeName([x509.DNSName("p.example")])]
    )
    with open(path, "rb") as f:
        (pointer,) = _x509.load_pem_certificates(f.read())
    assert _certificate_info.decode_certificate(pointer) == decode(path)


def test_certificate_to_der_is_the_file_content(make_certificate):
    path = make_certificate()
    with open(path, "rb") as f:
        pem = f.read()
    (pointer,) = _x509.load_pem_certificates(pem)
    assert _x509.certificate_to_der(pointer) == x509.load_pem_x509_certificate(
        pem
    ).public_bytes(serialization.Encoding.DER)
