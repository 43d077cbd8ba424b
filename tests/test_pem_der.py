"""PEM and DER: the module functions, ``cert_time_to_seconds``, the
``Certificate`` object and loading certificates from memory, each compared
with the stdlib where it has the same thing."""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import gc
import pickle

import pytest

from pyssl import _x509
from pyssl._errors import SSLError
from pyssl._lib import lib

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def outcome(function, *args):
    """The result, or the exception's class name and arguments."""
    try:
        return function(*args)
    except Exception as exc:  # compared by name: the classes differ
        return (type(exc).__name__, exc.args)


def read_der(path: str) -> bytes:
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read()).public_bytes(
            serialization.Encoding.DER
        )


@pytest.fixture
def der(make_certificate) -> bytes:
    return read_der(make_certificate(subject="der.example"))


# ---- DER_cert_to_PEM_cert and PEM_cert_to_DER_cert ------------------------------


def test_pem_header_and_footer(stdlib_ssl):
    assert _x509.PEM_HEADER == stdlib_ssl.PEM_HEADER == "-----BEGIN CERTIFICATE-----"
    assert _x509.PEM_FOOTER == stdlib_ssl.PEM_FOOTER == "-----END CERTIFICATE-----"


def test_der_to_pem_wraps_base64_at_64_columns(der, stdlib_ssl):
    pem = _x509.DER_cert_to_PEM_cert(der)
    assert pem == stdlib_ssl.DER_cert_to_PEM_cert(der)
    lines = pem.split("\n")
    assert lines[0] == "-----BEGIN CERTIFICATE-----"
    assert lines[-2:] == ["-----END CERTIFICATE-----", ""]
    assert all(len(line) == 64 for line in lines[1:-3])
    assert 0 < len(lines[-3]) <= 64
    assert "".join(lines[1:-2]) == base64.b64encode(der).decode("ascii")


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00" * 48, bytearray(b"abc"), memoryview(b"x" * 100)],
    ids=["empty", "one-line", "bytearray", "memoryview"],
)
def test_der_to_pem_of_any_bytes_like(stdlib_ssl, data):
    assert _x509.DER_cert_to_PEM_cert(data) == stdlib_ssl.DER_cert_to_PEM_cert(data)


def test_der_to_pem_of_empty_bytes():
    pem = _x509.DER_cert_to_PEM_cert(b"")
    assert pem == "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"


def test_der_to_pem_rejects_text(stdlib_ssl):
    error = outcome(_x509.DER_cert_to_PEM_cert, "MII")
    assert error[0] == "TypeError"
    assert error == outcome(stdlib_ssl.DER_cert_to_PEM_cert, "MII")


def test_pem_to_der_round_trip(der, stdlib_ssl):
    pem = _x509.DER_cert_to_PEM_cert(der)
    assert _x509.PEM_cert_to_DER_cert(pem) == der
    assert stdlib_ssl.PEM_cert_to_DER_cert(pem) == der


def test_pem_to_der_accepts_trailing_text_after_footer_whitespace(der, stdlib_ssl):
    pem = _x509.DER_cert_to_PEM_cert(der).replace("\n", "\r\n") + "  \n\n"
    assert _x509.PEM_cert_to_DER_cert(pem) == der
    assert stdlib_ssl.PEM_cert_to_DER_cert(pem) == der


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        ("", "Invalid PEM encoding; must start with -----BEGIN CERTIFICATE-----"),
        (
            " -----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "Invalid PEM encoding; must start with -----BEGIN CERTIFICATE-----",
        ),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n",
            "Invalid PEM encoding; must end with -----END CERTIFICATE-----",
        ),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\nmore\n",
            "Invalid PEM encoding; must end with -----END CERTIFICATE-----",
        ),
    ],
    ids=["empty", "leading-space", "no-footer", "text-after-footer"],
)
def test_pem_to_der_requires_header_and_footer(stdlib_ssl, pem, message):
    with pytest.raises(ValueError) as raised:
        _x509.PEM_cert_to_DER_cert(pem)
    assert raised.value.args == (message,)
    assert outcome(stdlib_ssl.PEM_cert_to_DER_cert, pem) == ("ValueError", (message,))


def test_pem_to_der_skips_characters_outside_base64(stdlib_ssl):
    pem = "-----BEGIN CERTIFICATE-----\nAA*A\tA!\n-----END CERTIFICATE-----"
    assert _x509.PEM_cert_to_DER_cert(pem) == b"\x00\x00\x00"
    assert stdlib_ssl.PEM_cert_to_DER_cert(pem) == b"\x00\x00\x00"


def test_pem_to_der_of_empty_body():
    assert _x509.PEM_cert_to_DER_cert(_x509.DER_cert_to_PEM_cert(b"")) == b""


@pytest.mark.parametrize(
    ("pem", "error"),
    [
        ("-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----", binascii.Error),
        (
            "-----BEGIN CERTIFICATE-----\nAAAé\n-----END CERTIFICATE-----",
            UnicodeEncodeError,
        ),
        (b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----", TypeError),
    ],
    ids=["bad-padding", "non-ascii", "bytes"],
)
def test_pem_to_der_errors_as_in_stdlib(stdlib_ssl, pem, error):
    with pytest.raises(error):
        _x509.PEM_cert_to_DER_cert(pem)
    assert outcome(_x509.PEM_cert_to_DER_cert, pem) == outcome(
        stdlib_ssl.PEM_cert_to_DER_cert, pem
    )


# ---- cert_time_to_seconds --------------------------------------------------------


@pytest.mark.parametrize(
    ("cert_time", "seconds"),
    [
        ("Jan  1 00:00:00 1970 GMT", 0),
        ("Jan  5 09:34:43 2018 GMT", 1515144883),
        ("Jan 05 09:34:43 2018 GMT", 1515144883),
        ("JAN  5 09:34:43 2018 GMT", 1515144883),
        ("jan  5 09:34:43 2018 GMT", 1515144883),
        ("Feb 29 12:00:00 2000 GMT", 951825600),
        ("Dec 31 23:59:60 2016 GMT", 1483228800),
        ("Dec 31 23:59:59 9999 GMT", 253402300799),
        # The day is checked against January: February 30th, 2021 is
        # March 2nd.
        ("Feb 30 00:00:00 2021 GMT", 1614643200),
    ],
)
def test_cert_time_to_seconds(stdlib_ssl, cert_time, seconds):
    assert _x509.cert_time_to_seconds(cert_time) == seconds
    assert stdlib_ssl.cert_time_to_seconds(cert_time) == seconds


def test_cert_time_to_seconds_reads_decoded_validity(make_certificate):
    path = make_certificate(not_after=datetime.datetime(2041, 3, 4, 5, 6, 7))
    not_after = _x509.test_decode_cert(path)["notAfter"]
    expected = datetime.datetime(2041, 3, 4, 5, 6, 7, tzinfo=datetime.timezone.utc)
    assert _x509.cert_time_to_seconds(not_after) == expected.timestamp()


def test_cert_time_to_seconds_rejects_unknown_month(stdlib_ssl):
    cert_time = "Foo  5 09:34:43 2018 GMT"
    message = (
        "time data 'Foo  5 09:34:43 2018 GMT' does not match format "
        '"%b %d %H:%M:%S %Y GMT"'
    )
    with pytest.raises(ValueError) as raised:
        _x509.cert_time_to_seconds(cert_time)
    assert raised.value.args == (message,)
    assert outcome(stdlib_ssl.cert_time_to_seconds, cert_time) == (
        "ValueError",
        (message,),
    )


@pytest.mark.parametrize(
    "cert_time",
    [
        "Jan  5 09:34:43 2018 UTC",
        "Jan  5 09:34 2018 GMT",
        "Jan  2 03:04:05.25 2020 GMT",
        "Jan 32 00:00:00 2020 GMT",
        "Jan  5 09:34:43 2018",
        "",
        b"Jan  5 09:34:43 2018 GMT",
    ],
)
def test_cert_time_to_seconds_rejects_other_forms(stdlib_ssl, cert_time):
    with pytest.raises(ValueError):
        _x509.cert_time_to_seconds(cert_time)
    assert outcome(_x509.cert_time_to_seconds, cert_time) == outcome(
        stdlib_ssl.cert_time_to_seconds, cert_time
    )


def test_cert_time_to_seconds_needs_a_string(stdlib_ssl):
    with pytest.raises(TypeError):
        _x509.cert_time_to_seconds(0)
    assert outcome(_x509.cert_time_to_seconds, 0) == outcome(
        stdlib_ssl.cert_time_to_seconds, 0
    )


# ---- Certificate -------------------------------------------------------------------


@pytest.fixture
def stdlib_certificate(stdlib_ssl, certificate_key, tmp_path):
    """The stdlib's ``_ssl.Certificate`` for a certificate file: the server
    certificate of an in-memory handshake."""

    def get(cert_path: str):
        chain = tmp_path / "chain.pem"
        key = certificate_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        with open(cert_path, "rb") as f:
            chain.write_bytes(f.read() + key)
        server_context = stdlib_ssl.SSLContext(stdlib_ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(chain)
        client_context = stdlib_ssl.SSLContext(stdlib_ssl.PROTOCOL_TLS_CLIENT)
        client_context.check_hostname = False
        client_context.verify_mode = stdlib_ssl.CERT_NONE
        bios = [stdlib_ssl.MemoryBIO() for _ in range(4)]
        client = client_context.wrap_bio(bios[0], bios[1])
        server = server_context.wrap_bio(bios[2], bios[3], server_side=True)
        for _ in range(4):
            for end in (client, server):
                try:
                    end.do_handshake()
                except stdlib_ssl.SSLWantReadError:
                    pass
            bios[2].write(bios[1].read())
            bios[0].write(bios[3].read())
        return client._sslobj.get_unverified_chain()[0]

    return get


def load_certificate(path: str) -> _x509.Certificate:
    with open(path, "rb") as f:
        (pointer,) = _x509.load_pem_certificates(f.read())
    return _x509.certificate_from_ptr(pointer)


def test_certificate_cannot_be_created_directly():
    with pytest.raises(TypeError) as raised:
        _x509.Certificate()
    assert str(raised.value) == "cannot create 'pyssl._x509.Certificate' instances"


def test_certificate_cannot_be_subclassed():
    with pytest.raises(TypeError, match="not an acceptable base type"):

        class Derived(_x509.Certificate):
            pass


def test_certificate_has_no_instance_attributes(make_certificate):
    certificate = load_certificate(make_certificate())
    with pytest.raises(AttributeError):
        certificate.anything = 1


def test_certificate_is_not_picklable_or_copyable(make_certificate):
    certificate = load_certificate(make_certificate())
    for function in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(
            TypeError, match="cannot pickle 'pyssl._x509.Certificate' object"
        ):
            function(certificate)


def test_public_bytes_default_is_pem(make_certificate, stdlib_certificate):
    path = make_certificate()
    certificate = load_certificate(path)
    pem = certificate.public_bytes()
    with open(path) as f:
        assert pem == f.read()
    assert pem == certificate.public_bytes(_x509.ENCODING_PEM)
    assert pem == certificate.public_bytes(format=1) == certificate.public_bytes(True)
    assert pem == stdlib_certificate(path).public_bytes()


def test_public_bytes_der_round_trips_through_pem(make_certificate, stdlib_certificate):
    path = make_certificate()
    certificate = load_certificate(path)
    der = certificate.public_bytes(_x509.ENCODING_DER)
    assert der == read_der(path)
    assert der == stdlib_certificate(path).public_bytes(2)
    assert _x509.PEM_cert_to_DER_cert(certificate.public_bytes()) == der
    assert _x509.DER_cert_to_PEM_cert(der) == certificate.public_bytes()


def test_public_bytes_pem_with_openssl_trust_settings(
    make_certificate, stdlib_certificate
):
    path = make_certificate()
    pem = load_certificate(path).public_bytes(0x101)
    assert pem.startswith("-----BEGIN TRUSTED CERTIFICATE-----\n")
    assert pem == stdlib_certificate(path).public_bytes(0x101)


@pytest.mark.parametrize(
    ("format", "error"),
    [
        (0, ValueError),
        (3, ValueError),
        (-1, ValueError),
        (0x100, ValueError),
        (1.0, TypeError),
        ("1", TypeError),
        (None, TypeError),
        (1 << 40, OverflowError),
    ],
)
def test_public_bytes_rejects_other_formats(
    make_certificate, stdlib_certificate, format, error
):
    path = make_certificate()
    with pytest.raises(error):
        load_certificate(path).public_bytes(format)
    ours = outcome(load_certificate(path).public_bytes, format)
    assert ours == outcome(stdlib_certificate(path).public_bytes, format)


def test_get_info_is_the_decoded_certificate(make_certificate, stdlib_certificate):
    names = x509.SubjectAlternativeName([x509.DNSName("info.example")])
    path = make_certificate(extensions=[names])
    info = load_certificate(path).get_info()
    assert info == _x509.test_decode_cert(path)
    assert info["subjectAltName"] == (("DNS", "info.example"),)
    assert info == stdlib_certificate(path).get_info()


def test_same_certificate_is_equal_and_hashes_alike(
    make_certificate, stdlib_certificate
):
    path = make_certificate(subject="same.example")
    first, second = load_certificate(path), load_certificate(path)
    other = load_certificate(make_certificate(subject="other.example"))
    assert first == second and not first != second
    assert first != other and not first == other
    assert hash(first) == hash(second) == hash(stdlib_certificate(path))
    assert len({first, second, other}) == 2


def test_certificate_is_never_equal_to_other_types(make_certificate):
    certificate = load_certificate(make_certificate())
    assert certificate != certificate.public_bytes(_x509.ENCODING_DER)
    assert certificate.__eq__(None) is NotImplemented
    with pytest.raises(TypeError):
        certificate < certificate  # noqa: B015


@pytest.mark.parametrize(
    ("subject", "shown"),
    [
        (
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "XY"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "a,b+c=d é"),
                ]
            ),
            r"CN=a\,b\+c=d \C3\A9,C=XY",
        ),
        (
            x509.Name(
                [
                    x509.RelativeDistinguishedName(
                        [
                            x509.NameAttribute(NameOID.COMMON_NAME, "a"),
                            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "b"),
                        ]
                    )
                ]
            ),
            "O=b+CN=a",
        ),
    ],
    ids=["escaped", "multi-valued"],
)
def test_repr_shows_subject_in_rfc_2253_form(
    make_certificate, stdlib_certificate, subject, shown
):
    path = make_certificate(subject=subject)
    assert repr(load_certificate(path)) == f"<pyssl._x509.Certificate '{shown}'>"
    assert repr(stdlib_certificate(path)) == f"<_ssl.Certificate '{shown}'>"


def test_repr_of_empty_subject_raises_ssl_error(make_certificate, stdlib_certificate):
    names = x509.SubjectAlternativeName([x509.DNSName("nameless.example")])
    path = make_certificate(subject=x509.Name([]), extensions=[names])
    with pytest.raises(SSLError) as raised:
        repr(load_certificate(path))
    assert raised.value.args[0] == 0
    assert outcome(repr, stdlib_certificate(path))[1][0] == 0


def test_certificate_keeps_its_own_reference(make_certificate):
    path = make_certificate(subject="owned.example")
    with open(path, "rb") as f:
        pointers = _x509.load_pem_certificates(f.read())
    certificate = _x509.certificate_from_ptr(pointers[0])
    del pointers
    gc.collect()
    assert certificate.get_info()["subject"] == ((("commonName", "owned.example"),),)


def test_certificate_can_take_over_a_reference(make_certificate):
    path = make_certificate(subject="adopted.example")
    original = load_certificate(path)
    duplicate = lib.X509_dup(original._x509)
    adopted = _x509.certificate_from_ptr(duplicate, up_ref=False)
    assert adopted == original
    assert adopted.get_info() == original.get_info()


# ---- loading certificates from memory -------------------------------------------------


def test_load_pem_certificates_skips_text_around_blocks(make_certificate):
    first, second = make_certificate(subject="one"), make_certificate(subject="two")
    with open(first, "rb") as f1, open(second, "rb") as f2:
        data = b"# bundle\n" + f1.read() + b"\ncomment\n" + f2.read() + b"\ntrailer\n"
    pointers = _x509.load_pem_certificates(data)
    assert [_x509.certificate_to_der(p) for p in pointers] == [
        read_der(first),
        read_der(second),
    ]
    assert lib.ERR_peek_error() == 0


@pytest.mark.parametrize("data", [b"", b"no certificate here\n", bytearray()])
def test_load_pem_certificates_without_any_is_empty(data):
    assert _x509.load_pem_certificates(data) == []
    assert lib.ERR_peek_error() == 0


def test_load_pem_certificates_raises_for_damaged_block(make_certificate):
    with open(make_certificate(), "rb") as f:
        data = (
            f.read() + b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        )
    with pytest.raises(SSLError) as raised:
        _x509.load_pem_certificates(data)
    assert raised.value.library in ("PEM", "ASN1")
    assert lib.ERR_peek_error() == 0


def test_load_der_certificates_of_concatenated_der(make_certificate):
    ders = [read_der(make_certificate(subject=name)) for name in ("one", "two")]
    pointers = _x509.load_der_certificates(memoryview(b"".join(ders)))
    assert [_x509.certificate_to_der(p) for p in pointers] == ders
    assert _x509.load_der_certificates(b"") == []
    assert lib.ERR_peek_error() == 0


@pytest.mark.parametrize(
    "tail",
    [b"\x00\x00", b"\x30\x03\x02\x01", b"\x30"],
    ids=["zeros", "cut", "cut-header"],
)
def test_load_der_certificates_raises_for_trailing_garbage(make_certificate, tail):
    with pytest.raises(SSLError) as raised:
        _x509.load_der_certificates(read_der(make_certificate()) + tail)
    assert raised.value.library == "ASN1"
    assert lib.ERR_peek_error() == 0
