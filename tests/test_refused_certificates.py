"""A client refuses a server whose certificate it cannot trust: expired,
not yet valid, for another host, self-signed, from an untrusted chain, or
too weak for the security level. Each refusal carries the verify code
OpenSSL gives, the same from pyssl and from the stdlib, and no byte of
application data reaches the server: neither when the handshake runs on
connect, nor when the application writes first and the write runs it.
Also: the client contexts the API makes by default verify, and nothing
turns that off without saying so."""

from __future__ import annotations

import datetime
import socket
import subprocess

import pytest
from openssl_cli import OPENSSL
from peers import TIMEOUT

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


class Authority:
    """A CA made for this module: its key and self-signed certificate."""

    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - DAY)
            .not_valid_after(NOW + 30 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                           critical=False)
            .add_extension(
                x509.KeyUsage(digital_signature=True, content_commitment=False,
                              key_encipherment=False, data_encipherment=False,
                              key_agreement=False, key_cert_sign=True, crl_sign=True,
                              encipher_only=False, decipher_only=False),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )  # fmt: skip


def leaf(
    issuer: Authority | None,
    host: str = "localhost",
    not_before=NOW - DAY,
    not_after=NOW + 30 * DAY,
    key=None,
):
    """A server certificate and its key, signed by ``issuer`` (self-signed
    when None)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.name if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        # What Python 3.13's VERIFY_X509_STRICT asks of a certificate.
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            (issuer.key if issuer else key).public_key()), critical=False)
    )  # fmt: skip
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return cert, key


def sha1_leaf(issuer: Authority, directory) -> bytes:
    """A certificate for localhost signed by ``issuer`` with SHA-1, made by
    the openssl program (cryptography no longer signs with SHA-1), and its
    key, as PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (directory / "request.pem").write_bytes(
        request.public_bytes(serialization.Encoding.PEM)
    )
    (directory / "issuer.pem").write_bytes(pem(issuer.cert))
    (directory / "issuer-key.pem").write_bytes(pem(issuer.key))
    (directory / "san.cnf").write_text(
        "subjectAltName = DNS:localhost\nsubjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid\n"
    )
    signed = subprocess.run(
        [OPENSSL or "openssl", "x509", "-req", "-sha1", "-days", "30", "-set_serial", "7",
         "-in", str(directory / "request.pem"), "-CA", str(directory / "issuer.pem"),
         "-CAkey", str(directory / "issuer-key.pem"), "-extfile", str(directory / "san.cnf")],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    (directory / "issuer-key.pem").unlink()
    return signed + pem(key)


def pem(*objects) -> bytes:
    out = b""
    for obj in objects:
        if isinstance(obj, x509.Certificate):
            out += obj.public_bytes(serialization.Encoding.PEM)
        else:
            out += obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())  # fmt: skip
    return out


# name: (verify code, verify message, the alert the server receives)
REFUSALS = {
    "expired": (10, "certificate has expired", "SSLV3_ALERT_CERTIFICATE_EXPIRED"),
    "not yet valid": (9, "certificate is not yet valid", "SSLV3_ALERT_BAD_CERTIFICATE"),
    "wrong host": (62, "Hostname mismatch, certificate is not valid for 'localhost'.",
                   "SSLV3_ALERT_BAD_CERTIFICATE"),
    "self-signed": (18, "self-signed certificate", "TLSV1_ALERT_UNKNOWN_CA"),
    "untrusted issuer": (20, "unable to get local issuer certificate", "TLSV1_ALERT_UNKNOWN_CA"),
    "untrusted root in the chain": (19, "self-signed certificate in certificate chain",
                                    "TLSV1_ALERT_UNKNOWN_CA"),
    "RSA-1024 key": (66, "EE certificate key too weak", "SSLV3_ALERT_BAD_CERTIFICATE"),
    "SHA-1 signature": (68, "CA signature digest algorithm too weak", "SSLV3_ALERT_BAD_CERTIFICATE"),
}  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The trusted CA's file, and per refusal the server's chain file."""
    base = tmp_path_factory.mktemp("refused")
    trusted, other = Authority("pyssl trusted CA"), Authority("pyssl untrusted CA")
    chains = {
        "expired": pem(
            *leaf(trusted, not_before=NOW - 60 * DAY, not_after=NOW - 30 * DAY)
        ),
        "not yet valid": pem(
            *leaf(trusted, not_before=NOW + 30 * DAY, not_after=NOW + 60 * DAY)
        ),
        "wrong host": pem(*leaf(trusted, host="elsewhere.example")),
        "self-signed": pem(*leaf(None)),
        "untrusted issuer": pem(*leaf(other)),
        "untrusted root in the chain": pem(*leaf(other), other.cert),
        "RSA-1024 key": pem(*leaf(trusted, key=rsa.generate_private_key(65537, 1024))),
        "SHA-1 signature": sha1_leaf(trusted, base) if OPENSSL else None,
        "good": pem(*leaf(trusted)),
    }
    files = {}
    for name, data in chains.items():
        if data is None:
            continue
        path = base / f"{name.replace(' ', '-')}.pem"
        path.write_bytes(data)
        files[name] = str(path)
    ca = base / "trusted-ca.pem"
    ca.write_bytes(pem(trusted.cert))
    return str(ca), files


def client_context(module, ca: str, how: str):
    if how == "create_default_context":
        return module.create_default_context(cafile=ca)
    ctx = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    return ctx


def recording_server(serve, module, chain: str):
    """A server presenting ``chain`` that records how its handshake ended and
    every byte of application data it read."""
    ctx = module.SSLContext(module.PROTOCOL_TLS_SERVER)
    # Low enough to present the weak certificates: the client refuses them.
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.load_cert_chain(chain)

    def handler(conn: socket.socket):
        try:
            tls = ctx.wrap_socket(conn, server_side=True)
        except Exception as exc:
            return exc, b""
        received = b""
        with tls:
            try:
                while data := tls.recv(1024):
                    received += data
                tls.unwrap()  # answer the client's close_notify
            except OSError as exc:
                return exc, received
        return None, received

    return serve(handler)


@pytest.mark.parametrize(
    "how", ["create_default_context", "SSLContext(PROTOCOL_TLS_CLIENT)"]
)
@pytest.mark.parametrize(
    "write_first", [False, True], ids=["handshake on connect", "write first"]
)
@pytest.mark.parametrize("case", REFUSALS)
def test_client_refuses_the_certificate(serve, either, pki, case, write_first, how):
    ca, chains = pki
    if case not in chains:
        pytest.skip(
            "the openssl program, which makes the SHA-1 certificate, is not installed"
        )
    code, message, alert = REFUSALS[case]
    server = recording_server(serve, either, chains[case])
    ctx = client_context(either, ca, how)
    with server.connect() as raw:
        with pytest.raises(either.SSLCertVerificationError) as refused:
            tls = ctx.wrap_socket(
                raw,
                server_hostname="localhost",
                do_handshake_on_connect=not write_first,
            )
            with tls:
                tls.sendall(b"secret request")
    error = refused.value
    assert (error.verify_code, error.verify_message) == (code, message)
    assert (error.library, error.reason) == ("SSL", "CERTIFICATE_VERIFY_FAILED")
    [(server_end, received)] = server.join()
    assert received == b""
    assert isinstance(server_end, either.SSLError) and server_end.reason == alert


def test_the_same_server_with_a_good_certificate_gets_the_request(serve, either, pki):
    """The recording server does record: the refusals above are the
    client's doing."""
    ca, chains = pki
    server = recording_server(serve, either, chains["good"])
    with server.connect() as raw:
        with client_context(either, ca, "create_default_context").wrap_socket(
            raw, server_hostname="localhost"
        ) as tls:
            tls.sendall(b"secret request")
            tls.unwrap()
    assert server.join() == [(None, b"secret request")]


# ---- verification stays on unless turned off by name ------------------------------------


@pytest.mark.parametrize(
    "make", ["create_default_context", "SSLContext(PROTOCOL_TLS_CLIENT)"]
)
def test_client_contexts_verify_by_default(either, make):
    ctx = either.create_default_context() if make == "create_default_context" else (
        either.SSLContext(either.PROTOCOL_TLS_CLIENT))  # fmt: skip
    assert (ctx.verify_mode, ctx.check_hostname) == (either.CERT_REQUIRED, True)


def test_wrap_socket_without_a_server_name_is_refused(either, pki, connected_pair):
    """A verifying client context will not connect without a name to check
    (it would not know whom it talks to)."""
    ca, _ = pki
    client, _server = connected_pair
    ctx = client_context(either, ca, "create_default_context")
    with pytest.raises(ValueError, match="check_hostname requires server_hostname"):
        ctx.wrap_socket(client)
    assert client.fileno() >= 0  # not taken over: still the caller's


def test_cert_none_is_refused_while_names_are_checked(either):
    ctx = either.create_default_context()
    with pytest.raises(ValueError, match="check_hostname is enabled"):
        ctx.verify_mode = either.CERT_NONE
    assert ctx.verify_mode == either.CERT_REQUIRED


@pytest.mark.parametrize("case", ["expired", "untrusted issuer", "wrong host"])
def test_without_name_checks_the_certificate_is_still_verified(
    serve, either, pki, case
):
    """check_hostname = False turns off the name check only: an expired or
    untrusted certificate is still refused, one for another host taken."""
    ca, chains = pki
    server = recording_server(serve, either, chains[case])
    ctx = client_context(either, ca, "create_default_context")
    ctx.check_hostname = False
    assert ctx.verify_mode == either.CERT_REQUIRED
    with server.connect() as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"secret request")
                tls.unwrap()
        except either.SSLCertVerificationError as exc:
            outcome = exc.verify_code
        else:
            outcome = "accepted"
    [(_end, received)] = server.join()
    if case == "wrong host":
        assert (outcome, received) == ("accepted", b"secret request")
    else:
        assert (outcome, received) == (REFUSALS[case][0], b"")


def test_wrap_socket_keeps_the_contexts_verification(serve, either, pki):
    """wrap_socket()'s defaults (client side, handshake on connect) change
    nothing of the context's verification."""
    ca, chains = pki
    server = recording_server(serve, either, chains["good"])
    ctx = client_context(either, ca, "create_default_context")
    with (
        server.connect(timeout=TIMEOUT) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.context is ctx
        assert (tls.context.verify_mode, tls.context.check_hostname) == (
            either.CERT_REQUIRED,
            True,
        )
        assert tls.getpeercert()["subject"] == ((("commonName", "localhost"),),)
        tls.unwrap()
    server.join()
