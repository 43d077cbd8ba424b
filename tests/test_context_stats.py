"""What an SSLContext holds and a few of its key-exchange settings:
cert_store_stats(), get_ca_certs(), num_tickets, security_level,
set_ecdh_curve() and load_dh_params().

The stdlib documents all of these, so the checks run on both modules; the
settings are proved on the wire (the group in the ServerHello, the tickets
a client receives, the cipher a DHE-only server picks)."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import trustme
from cert_files import der_of
from openssl_cli import OPENSSL, needs_openssl
from peers import client_context, converse, server_context
from ssl_modules import openssl_at_least, same_openssl

# ---- cert_store_stats() ------------------------------------------------------------------


@pytest.fixture(scope="module")
def crl_file(tmp_path_factory):
    """A PEM file holding one (empty) certificate revocation list."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime(2024, 1, 1)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "revoker")]))
        .last_update(now)
        .next_update(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    path = tmp_path_factory.mktemp("crl") / "crl.pem"
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    return str(path)


def stats_after(module, *loads):
    ctx = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
    for load in loads:
        ctx.load_verify_locations(**load)
    return ctx.cert_store_stats()


def test_stats_of_a_new_context(either):
    stats = either.SSLContext(either.PROTOCOL_TLS_CLIENT).cert_store_stats()
    assert stats == {"x509": 0, "crl": 0, "x509_ca": 0}
    assert list(stats) == ["x509", "crl", "x509_ca"]


def test_a_ca_counts_as_x509_and_x509_ca(certs, either):
    assert stats_after(either, {"cafile": certs.ca}) == {
        "x509": 1,
        "crl": 0,
        "x509_ca": 1,
    }


def test_a_leaf_counts_as_x509_only(certs, either):
    stats = stats_after(either, {"cafile": certs.ca}, {"cafile": certs.server_cert})
    assert stats == {"x509": 2, "crl": 0, "x509_ca": 1}


def test_the_same_certificate_counts_once(certs, either):
    stats = stats_after(
        either, {"cafile": certs.ca}, {"cadata": der_of(certs.ca)}, {"cafile": certs.ca}
    )
    assert stats == {"x509": 1, "crl": 0, "x509_ca": 1}


def test_cadata_in_both_forms(certs, either):
    stats = stats_after(
        either,
        {"cadata": Path(certs.ca).read_text()},
        {"cadata": der_of(certs.other_ca)},
        {"cadata": der_of(certs.client_cert)},
    )
    assert stats == {"x509": 3, "crl": 0, "x509_ca": 2}


def test_a_crl_counts_as_crl(certs, either, crl_file):
    stats = stats_after(either, {"cafile": certs.ca}, {"cafile": crl_file})
    assert stats == {"x509": 1, "crl": 1, "x509_ca": 1}


@pytest.fixture(scope="module")
def hashed_ca_dir(certs, tmp_path_factory):
    """A capath directory holding the test CA under its subject hash."""
    if OPENSSL is None:
        pytest.skip("the openssl program is not installed")
    digest = subprocess.run(
        [OPENSSL, "x509", "-subject_hash", "-noout", "-in", certs.ca],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    directory = tmp_path_factory.mktemp("capath")
    shutil.copy(certs.ca, directory / f"{digest}.0")
    return str(directory)


def test_capath_certificates_count_once_used(serve, certs, either, hashed_ca_dir):
    # OpenSSL reads a directory's certificates when it needs them, so the
    # context knows nothing of them before a handshake has looked one up.
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(capath=hashed_ca_dir)
    assert ctx.cert_store_stats() == {"x509": 0, "crl": 0, "x509_ca": 0}
    assert ctx.get_ca_certs() == []
    converse(serve, server_context(either, certs), ctx, lambda tls: None)
    assert ctx.cert_store_stats() == {"x509": 1, "crl": 0, "x509_ca": 1}
    assert ctx.get_ca_certs(binary_form=True) == [der_of(certs.ca)]


# ---- get_ca_certs() ----------------------------------------------------------------------------


def test_no_ca_certs_in_a_new_context(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    assert ctx.get_ca_certs() == []
    assert ctx.get_ca_certs(binary_form=True) == []


def test_ca_certs_in_der(certs, either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.ca)
    ctx.load_verify_locations(certs.server_cert)  # not a CA: left out
    assert ctx.get_ca_certs(binary_form=True) == [der_of(certs.ca)]
    assert ctx.get_ca_certs(True) == [der_of(certs.ca)]


def test_ca_certs_as_dicts(certs, either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.ca)
    [decoded] = ctx.get_ca_certs()
    assert decoded["subject"] == decoded["issuer"]  # self-signed
    assert dict(rdn[0] for rdn in decoded["subject"])["organizationName"].startswith(
        "trustme"
    )
    assert set(decoded) == {
        "subject",
        "issuer",
        "version",
        "serialNumber",
        "notBefore",
        "notAfter",
    }
    assert decoded["version"] == 3
    assert type(decoded["serialNumber"]) is str


def test_ca_certs_equal_the_stdlibs(certs, stdlib, crl_file):
    import pyssl

    contexts = [
        module.SSLContext(module.PROTOCOL_TLS_CLIENT) for module in (pyssl, stdlib)
    ]
    for ctx in contexts:
        for path in (certs.ca, certs.other_ca, certs.server_cert, crl_file):
            ctx.load_verify_locations(path)
    ours, theirs = contexts
    if same_openssl(stdlib):
        assert ours.get_ca_certs() == theirs.get_ca_certs()
        assert ours.get_ca_certs(binary_form=True) == theirs.get_ca_certs(
            binary_form=True
        )
    else:  # the store's order is the release's
        assert sorted(map(repr, ours.get_ca_certs())) == sorted(
            map(repr, theirs.get_ca_certs())
        )
        assert sorted(ours.get_ca_certs(binary_form=True)) == sorted(
            theirs.get_ca_certs(binary_form=True)
        )
    assert len(ours.get_ca_certs()) == 2
    assert (
        ours.cert_store_stats()
        == theirs.cert_store_stats()
        == {"x509": 3, "crl": 1, "x509_ca": 2}
    )


# ---- num_tickets ------------------------------------------------------------------------------


def test_num_tickets_default(either):
    assert either.SSLContext(either.PROTOCOL_TLS_SERVER).num_tickets == 2
    assert either.SSLContext(either.PROTOCOL_TLS_CLIENT).num_tickets == 2


@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_the_client_receives_num_tickets_tickets(serve, certs, either, count):
    server_ctx = server_context(either, certs, num_tickets=count)
    assert server_ctx.num_tickets == count
    client_ctx = client_context(either, certs)
    tickets = []

    def callback(conn, direction, version, content, message, data):
        if message == either._TLSMessageType.NEWSESSION_TICKET:
            tickets.append(direction)

    client_ctx._msg_callback = callback
    converse(
        serve, server_ctx, client_ctx, lambda tls: None
    )  # the client reads after the handshake
    assert tickets == ["read"] * count


@pytest.mark.parametrize(
    "value, error, message",
    [
        (-1, ValueError, "value must be non-negative"),
        (2**64, OverflowError, "Python int too large to convert to C long"),
        ("2", TypeError, "'str' object cannot be interpreted as an integer"),
        (2.0, TypeError, "'float' object cannot be interpreted as an integer"),
    ],
    ids=["negative", "too large", "str", "float"],
)
@pytest.mark.parametrize("protocol", ["PROTOCOL_TLS_SERVER", "PROTOCOL_TLS_CLIENT"])
def test_bad_num_tickets(either, protocol, value, error, message):
    # The value is checked before the kind of context.
    ctx = either.SSLContext(getattr(either, protocol))
    with pytest.raises(error) as info:
        ctx.num_tickets = value
    assert str(info.value) == message
    assert ctx.num_tickets == 2


def test_num_tickets_on_a_client_context(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(ValueError) as info:
        ctx.num_tickets = 1
    assert str(info.value) == "SSLContext is not a server context."


# ---- security_level ------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["PROTOCOL_TLS_CLIENT", "PROTOCOL_TLS_SERVER"])
def test_security_level_is_the_stdlibs(stdlib, protocol):
    import pyssl

    ours = pyssl.SSLContext(getattr(pyssl, protocol))
    theirs = stdlib.SSLContext(getattr(stdlib, protocol))
    assert type(ours.security_level) is int
    assert ours.security_level == theirs.security_level == 2


@pytest.mark.parametrize("level", [0, 1, 3])
def test_security_level_follows_the_cipher_string(either, level):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers(f"DEFAULT:@SECLEVEL={level}")
    assert ctx.security_level == level


def test_security_level_is_read_only(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(AttributeError):
        ctx.security_level = 1


@pytest.fixture(scope="module")
def weak_cert(tmp_path_factory):
    """A self-signed certificate for localhost with a 1024-bit RSA key
    (key and certificate in one file)."""
    # Made with cryptography rather than `openssl req`: the openssl program
    # crashes where LD_LIBRARY_PATH gives it another release's libcrypto
    # (as when the tests run on a pyssl built against another OpenSSL).
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path_factory.mktemp("weak") / "weak.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + certificate.public_bytes(serialization.Encoding.PEM)
    )
    return str(path)


def test_level_2_refuses_to_serve_a_1024_bit_key(either, weak_cert):
    ctx = either.SSLContext(either.PROTOCOL_TLS_SERVER)
    with pytest.raises(either.SSLError) as info:
        ctx.load_cert_chain(weak_cert)
    assert (info.value.library, info.value.reason) == ("SSL", "EE_KEY_TOO_SMALL")


@pytest.mark.parametrize("level", [1, 2])
def test_level_2_refuses_a_peers_1024_bit_key(handshake, either, weak_cert, level):
    server_ctx = either.SSLContext(either.PROTOCOL_TLS_SERVER)
    server_ctx.set_ciphers("DEFAULT:@SECLEVEL=1")
    server_ctx.load_cert_chain(weak_cert)
    client_ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(weak_cert)
    client_ctx.set_ciphers(f"DEFAULT:@SECLEVEL={level}")
    client, _server = handshake(server_ctx, client_ctx)
    if level == 1:
        assert client == "TLSv1.3"
    else:
        assert type(client) is either.SSLCertVerificationError
        assert (client.verify_code, client.verify_message) == (
            66,
            "EE certificate key too weak",
        )


# ---- set_ecdh_curve() ----------------------------------------------------------------------

# TLS group numbers (RFC 8446 4.2.7, RFC 8422 5.1.1)
GROUPS = {
    "prime256v1": 0x0017,
    "secp384r1": 0x0018,
    "secp521r1": 0x0019,
    "X25519": 0x001D,
    "X448": 0x001E,
    "X25519MLKEM768": 0x11EC,
}


def server_hello_group(data):
    """The key share group of a TLS 1.3 ServerHello (or HelloRetryRequest)."""
    position = 4 + 2 + 32  # header, legacy version, random
    position += 1 + data[position]  # legacy session id
    position += 2 + 1  # cipher suite, compression
    end = position + 2 + int.from_bytes(data[position : position + 2], "big")
    position += 2
    while position < end:
        kind = int.from_bytes(data[position : position + 2], "big")
        size = int.from_bytes(data[position + 2 : position + 4], "big")
        if kind == 51:  # key_share
            return int.from_bytes(data[position + 4 : position + 6], "big")
        position += 4 + size
    raise AssertionError("no key_share in the ServerHello")


def server_key_exchange_group(data):
    """The named curve of a TLS 1.2 ECDHE ServerKeyExchange."""
    assert data[4] == 3  # named_curve
    return int.from_bytes(data[5:7], "big")


def negotiated_group(serve, module, server_ctx, client_ctx):
    messages = {}

    def callback(conn, direction, version, content, message, data):
        if content == module._TLSContentType.HANDSHAKE and direction == "read":
            messages[message] = data  # the last of each kind

    client_ctx._msg_callback = callback
    converse(serve, server_ctx, client_ctx, lambda tls: None)
    if module._TLSMessageType.SERVER_KEY_EXCHANGE in messages:
        return server_key_exchange_group(
            messages[module._TLSMessageType.SERVER_KEY_EXCHANGE]
        )
    return server_hello_group(messages[module._TLSMessageType.SERVER_HELLO])


def skip_the_ec_api(module):
    if module.__name__ != "pyssl" and sys.version_info < (3, 11):
        pytest.skip(
            "Python 3.10's stdlib sets the curve through OpenSSL's EC_KEY API: "
            "no X25519, and EC errors for other names"
        )


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
@pytest.mark.parametrize("curve", ["prime256v1", "secp384r1", "X25519"])
def test_the_curve_set_is_the_curve_used(serve, certs, either, curve, version):
    if curve == "X25519":
        skip_the_ec_api(either)
    server_ctx = server_context(either, certs)
    server_ctx.set_ecdh_curve(curve)
    client_ctx = client_context(either, certs)
    client_ctx.maximum_version = getattr(either.TLSVersion, version)
    assert negotiated_group(serve, either, server_ctx, client_ctx) == GROUPS[curve]


def test_without_a_setting_the_clients_first_choice_is_used(serve, certs, either):
    group = negotiated_group(
        serve, either, server_context(either, certs), client_context(either, certs)
    )
    # OpenSSL 3.5 puts the hybrid post-quantum group first.
    assert (
        group
        == GROUPS["X25519MLKEM768" if openssl_at_least(either, 3, 5) else "X25519"]
    )


def test_a_curve_the_client_does_not_offer_fails(handshake, certs, either):
    server_ctx = server_context(either, certs)
    server_ctx.set_ecdh_curve("secp521r1")
    client_ctx = client_context(either, certs)
    client_ctx.set_ecdh_curve("prime256v1")
    client, server = handshake(server_ctx, client_ctx)
    assert (type(server), server.reason) == (either.SSLError, "NO_SUITABLE_KEY_SHARE")
    assert (type(client), client.reason) == (
        either.SSLError,
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
    )


@pytest.mark.parametrize("name", ["prime256v1", b"secp384r1"], ids=["str", "bytes"])
def test_curve_names_as_str_bytes_or_path(either, name):
    ctx = either.SSLContext(either.PROTOCOL_TLS_SERVER)
    ctx.set_ecdh_curve(name)
    ctx.set_ecdh_curve(Path(os.fsdecode(name)))  # any path-like object, as the stdlib


@pytest.mark.parametrize(
    "name", ["brainpool", b"nonsense", "P-256"], ids=["str", "bytes", "NIST name"]
)
def test_unknown_curve_names_are_value_errors(either, name):
    ctx = either.SSLContext(either.PROTOCOL_TLS_SERVER)
    with pytest.raises(ValueError) as info:
        ctx.set_ecdh_curve(name)
    assert str(info.value) == f"unknown elliptic curve name {name!r}"


def test_a_name_that_is_no_curve_is_an_sslerror(either):
    # OpenSSL knows the name, as a digest; as a group it is refused.
    skip_the_ec_api(either)
    ctx = either.SSLContext(either.PROTOCOL_TLS_SERVER)
    with pytest.raises(either.SSLError) as info:
        ctx.set_ecdh_curve("SHA256")
    assert info.value.args[0] == 0
    assert str(info.value).startswith("unknown error (")
    assert (info.value.library, info.value.reason) == (None, None)


@pytest.mark.parametrize(
    "value", [42, None, bytearray(b"prime256v1")], ids=["int", "None", "bytearray"]
)
def test_curve_names_of_other_types_are_type_errors(either, value):
    ctx = either.SSLContext(either.PROTOCOL_TLS_SERVER)
    with pytest.raises(TypeError) as info:
        ctx.set_ecdh_curve(value)
    assert (
        str(info.value)
        == f"expected str, bytes or os.PathLike object, not {type(value).__name__}"
    )


def test_an_embedded_null_is_a_value_error(either):
    with pytest.raises(ValueError) as info:
        either.SSLContext(either.PROTOCOL_TLS_SERVER).set_ecdh_curve("prime256v1\0")
    assert str(info.value) == "embedded null byte"


# ---- load_dh_params() ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dh_params(tmp_path_factory):
    """RFC 7919's ffdhe2048 group as a PEM "DH PARAMETERS" file."""
    if OPENSSL is None:
        pytest.skip("the openssl program is not installed")
    path = tmp_path_factory.mktemp("dh") / "dhparams.pem"
    subprocess.run(
        [
            OPENSSL,
            "genpkey",
            "-genparam",
            "-algorithm",
            "DH",
            "-pkeyopt",
            "group:ffdhe2048",
            "-out",
            str(path),
        ],
        capture_output=True,
        check=True,
    )
    assert path.read_text().startswith("-----BEGIN DH PARAMETERS-----")
    return path


@pytest.fixture(scope="module")
def rsa_server(tmp_path_factory):
    """An RSA server certificate (DHE suites authenticate with RSA):
    (chain file, CA file)."""
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    cert = ca.issue_cert("localhost", key_type=trustme.KeyType.RSA)
    base = tmp_path_factory.mktemp("rsa")
    cert.private_key_and_cert_chain_pem.write_to_path(str(base / "chain.pem"))
    ca.cert_pem.write_to_path(str(base / "ca.pem"))
    return str(base / "chain.pem"), str(base / "ca.pem")


DHE_ONLY = "DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256"


def dhe_contexts(module, rsa_server):
    server_ctx = module.SSLContext(module.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(rsa_server[0])
    server_ctx.maximum_version = module.TLSVersion.TLSv1_2
    server_ctx.set_ciphers(DHE_ONLY)
    client_ctx = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(rsa_server[1])
    return server_ctx, client_ctx


@pytest.mark.parametrize("as_path", [False, True], ids=["str", "Path"])
def test_dhe_works_once_parameters_are_loaded(
    handshake, either, rsa_server, dh_params, as_path
):
    server_ctx, client_ctx = dhe_contexts(either, rsa_server)
    server_ctx.load_dh_params(dh_params if as_path else str(dh_params))
    client, server = handshake(
        server_ctx, client_ctx, on_client=lambda tls: tls.cipher()
    )
    assert client == ("DHE-RSA-AES256-GCM-SHA384", "TLSv1.2", 256)
    assert server == "TLSv1.2"


def test_dhe_fails_without_parameters(handshake, either, rsa_server):
    client, server = handshake(*dhe_contexts(either, rsa_server))
    assert (type(server), server.reason) == (either.SSLError, "NO_SHARED_CIPHER")
    assert (type(client), client.reason) == (
        either.SSLError,
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
    )


@needs_openssl
def test_dhe_with_openssl_s_client(serve, openssl_client, rsa_server, dh_params):
    import pyssl

    server_ctx, _client_ctx = dhe_contexts(pyssl, rsa_server)
    server_ctx.load_dh_params(dh_params)

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"hello\n")
            return tls.cipher()[0]

    server = serve(handler)
    client = openssl_client(server.port, "-tls1_2")
    line = client.wait_for(b"Server Temp Key")
    client.wait_for(b"hello")
    assert server.join() == ["DHE-RSA-AES256-GCM-SHA384"]
    assert b"DH, 2048 bits" in line


@pytest.mark.parametrize("as_path", [False, True], ids=["str", "Path"])
def test_a_missing_file_is_file_not_found(either, tmp_path, as_path):
    path = tmp_path / "missing.pem"
    with pytest.raises(FileNotFoundError) as info:
        either.SSLContext(either.PROTOCOL_TLS_SERVER).load_dh_params(
            path if as_path else str(path)
        )
    assert info.value.filename == (path if as_path else str(path))


def test_a_certificate_file_is_an_sslerror(certs, either):
    with pytest.raises(either.SSLError) as info:
        either.SSLContext(either.PROTOCOL_TLS_SERVER).load_dh_params(certs.ca)
    assert (info.value.library, info.value.reason) == ("PEM", "NO_START_LINE")
    assert (
        info.value.args[0] == 108
    )  # the reason code, as for other errors outside a connection


def test_a_directory_is_an_oserror(either, tmp_path):
    with pytest.raises(IsADirectoryError):
        either.SSLContext(either.PROTOCOL_TLS_SERVER).load_dh_params(tmp_path)


@pytest.mark.parametrize("value", [None, 3.5], ids=["None", "float"])
def test_a_non_path_is_a_type_error(either, value):
    with pytest.raises(TypeError) as info:
        either.SSLContext(either.PROTOCOL_TLS_SERVER).load_dh_params(value)
    assert (
        str(info.value)
        == f"expected str, bytes or os.PathLike object, not {type(value).__name__}"
    )


def test_a_file_descriptor_is_a_type_error(either, dh_params):
    # A path only: an int must not be taken for an open file (and closed).
    fd = os.open(dh_params, os.O_RDONLY)
    try:
        with pytest.raises(TypeError) as info:
            either.SSLContext(either.PROTOCOL_TLS_SERVER).load_dh_params(fd)
        assert str(info.value) == "expected str, bytes or os.PathLike object, not int"
        os.fstat(fd)  # still open
    finally:
        os.close(fd)


def test_an_embedded_null_in_the_path_is_a_value_error(either, dh_params):
    with pytest.raises(ValueError) as info:
        either.SSLContext(either.PROTOCOL_TLS_SERVER).load_dh_params(f"{dh_params}\0")
    assert str(info.value) == "embedded null byte"
