"""OCSP stapling, pyssl's addition to the stdlib.

A server staples a DER OCSP response (SSLContext.set_ocsp_response: fixed
bytes or a callable per connection); a client asks for one
(request_ocsp_response), reads it (get_ocsp_response(): None when none was
sent) and may have it checked against the verified chain
(check_ocsp_response): revoked, unknown and untrustworthy responses fail
the handshake with SSLCertVerificationError. The responses are made by
``openssl ocsp`` from an index of one good and one revoked certificate;
the peers are pyssl, the stdlib (which never staples) and the openssl
programs."""

from __future__ import annotations

import contextlib
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from cert_files import der_of
from openssl_cli import OPENSSL, OpenSSLProcess, needs_openssl
from peers import TIMEOUT, BioPair

import pyssl

pytestmark = [
    needs_openssl,
    pytest.mark.skipif(not pyssl.HAS_OCSP_STAPLING, reason="this OpenSSL has no OCSP"),
]

CERT_REVOKED = 23
OCSP_VERIFY_FAILED = 74
OCSP_CERT_UNKNOWN = 75

VERSIONS = {"TLSv1.2": pyssl.TLSVersion.TLSv1_2, "TLSv1.3": pyssl.TLSVersion.TLSv1_3}


@dataclass(frozen=True)
class Server:
    """A certificate for localhost and the OCSP responses made for it."""

    cert: str
    key: str
    response: bytes  # what the CA's responder says of this certificate


@dataclass(frozen=True)
class Responses:
    ca: str
    good: Server
    revoked: Server
    unknown: Server  # not in the responder's index
    forged: bytes  # "good" for the good certificate, signed by a stranger


def _serial(cert: str) -> str:
    out = subprocess.run(
        [OPENSSL or "openssl", "x509", "-in", cert, "-noout", "-serial"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip().split("=", 1)[1]


@pytest.fixture(scope="module")
def ocsp(tmp_path_factory) -> Responses:
    base = tmp_path_factory.mktemp("ocsp")
    ca, stranger = trustme.CA(), trustme.CA()
    files = {}
    for name, authority in (("ca", ca), ("stranger", stranger)):
        authority.cert_pem.write_to_path(str(base / f"{name}.pem"))
        authority.private_key_pem.write_to_path(str(base / f"{name}-key.pem"))
    for name in ("good", "revoked", "unknown"):
        issued = ca.issue_cert("localhost", "127.0.0.1")
        issued.cert_chain_pems[0].write_to_path(str(base / f"{name}.pem"))
        issued.private_key_pem.write_to_path(str(base / f"{name}-key.pem"))
        files[name] = str(base / f"{name}.pem")
    # openssl ca's index: status, expiry, revocation, serial, file, subject.
    (base / "index.txt").write_text(
        f"V\t300001010000Z\t\t{_serial(files['good'])}\tunknown\t/CN=good\n"
        f"R\t300001010000Z\t240101000000Z,keyCompromise\t{_serial(files['revoked'])}"
        "\tunknown\t/CN=revoked\n"
    )

    def respond(cert: str, signer: str = "ca") -> bytes:
        out = base / f"{Path(cert).stem}-by-{signer}.der"
        subprocess.run(
            [
                OPENSSL or "openssl",
                "ocsp",
                "-index",
                str(base / "index.txt"),
                "-rsigner",
                str(base / f"{signer}.pem"),
                "-rkey",
                str(base / f"{signer}-key.pem"),
                "-CA",
                str(base / "ca.pem"),
                "-issuer",
                str(base / "ca.pem"),
                "-cert",
                cert,
                "-respout",
                str(out),
                "-ndays",
                "1",
            ],
            capture_output=True,
            check=True,
            timeout=TIMEOUT,
        )
        return out.read_bytes()

    def server(name: str) -> Server:
        return Server(files[name], str(base / f"{name}-key.pem"), respond(files[name]))

    return Responses(
        str(base / "ca.pem"),
        server("good"),
        server("revoked"),
        server("unknown"),
        respond(files["good"], signer="stranger"),
    )


def stapling_server(module, server: Server, staple=None, version="TLSv1.3"):
    ctx = module.SSLContext(module.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(server.cert, server.key)
    ctx.maximum_version = getattr(module.TLSVersion, version.replace(".", "_"))
    if staple is not None:
        ctx.set_ocsp_response(staple)
    return ctx


def ocsp_client(ocsp: Responses, **settings):
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ocsp.ca)
    for name, value in settings.items():
        setattr(ctx, name, value)
    return ctx


def stapled(tls):
    return tls.get_ocsp_response()


# ---- stapling and reading ---------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("form", ["bytes", "bytearray", "callable"])
def test_client_reads_the_stapled_response(handshake, ocsp, version, form):
    response = ocsp.good.response
    staple = {
        "bytes": response,
        "bytearray": bytearray(response),
        "callable": lambda conn: response,
    }[form]
    client, server = handshake(
        stapling_server(pyssl, ocsp.good, staple, version),
        ocsp_client(ocsp, request_ocsp_response=True),
        on_client=lambda tls: (tls.version(), stapled(tls)),
        on_server=stapled,
    )
    assert client == (version, response)
    assert server is None  # the server side reads none


def test_sslobject_reads_the_stapled_response(ocsp):
    pair = BioPair(
        ocsp_client(ocsp, request_ocsp_response=True),
        stapling_server(pyssl, ocsp.good, ocsp.good.response),
    )
    assert pair.client.get_ocsp_response() is None  # before the handshake
    pair.handshake()
    assert pair.client.get_ocsp_response() == ocsp.good.response
    assert pair.server.get_ocsp_response() is None


@pytest.mark.parametrize("server_module", ["pyssl", "stdlib"])
def test_none_when_the_server_staples_nothing(handshake, ocsp, server_module, peer):
    module = peer if server_module == "stdlib" else pyssl
    client, _server = handshake(
        stapling_server(module, ocsp.good),
        ocsp_client(ocsp, check_ocsp_response=True),
        on_client=stapled,
    )
    assert client is None


def test_none_when_the_client_did_not_ask(handshake, ocsp):
    calls = []
    server_ctx = stapling_server(pyssl, ocsp.good, lambda conn: calls.append(conn))
    client, _server = handshake(server_ctx, ocsp_client(ocsp), on_client=stapled)
    assert client is None
    assert calls == []


def test_sslsocket_without_connection_has_none(ocsp):
    client_ctx = ocsp_client(ocsp, request_ocsp_response=True)
    with socket.socket() as raw:
        with client_ctx.wrap_socket(
            raw, server_hostname="localhost", do_handshake_on_connect=False
        ) as tls:
            assert tls.get_ocsp_response() is None


def test_staple_callback_gets_the_server_socket(handshake, ocsp):
    seen = []

    def staple(conn):
        seen.append(conn)
        return None  # nothing stapled

    client, server = handshake(
        stapling_server(pyssl, ocsp.good, staple),
        ocsp_client(ocsp, request_ocsp_response=True),
        on_client=stapled,
        on_server=lambda tls: tls,
    )
    assert client is None
    assert seen == [server]
    assert isinstance(server, pyssl.SSLSocket) and server.server_side


def test_staple_callback_gets_the_server_sslobject(ocsp):
    seen = []
    server_ctx = stapling_server(
        pyssl, ocsp.good, lambda conn: seen.append(conn) or ocsp.good.response
    )
    pair = BioPair(
        ocsp_client(ocsp, request_ocsp_response=True), server_ctx
    ).handshake()
    assert seen == [pair.server]
    assert pair.client.get_ocsp_response() == ocsp.good.response


def test_staple_comes_from_the_context_sni_switched_to(handshake, ocsp):
    """The staple is chosen after the SNI callback: a context switched to
    staples its own response, and a staple callback sees the switch."""
    first = stapling_server(pyssl, ocsp.good, ocsp.good.response)
    second = stapling_server(pyssl, ocsp.revoked)
    seen = []

    def staple(conn):
        seen.append(conn.context)
        return ocsp.revoked.response

    second.set_ocsp_response(staple)

    def switch(conn, name, ctx):
        conn.context = second

    first.sni_callback = switch
    client, _server = handshake(
        first,
        ocsp_client(ocsp, request_ocsp_response=True),
        on_client=lambda tls: (stapled(tls), tls.getpeercert(True)),
    )
    assert seen == [second]
    # The certificate and the staple are both the second context's.
    assert client == (ocsp.revoked.response, der_of(ocsp.revoked.cert))


def test_none_stops_stapling(handshake, ocsp):
    server_ctx = stapling_server(pyssl, ocsp.good, ocsp.good.response)
    server_ctx.set_ocsp_response(None)
    client, _server = handshake(
        server_ctx, ocsp_client(ocsp, request_ocsp_response=True), on_client=stapled
    )
    assert client is None


# ---- checking -------------------------------------------------------------------------


CHECKS = {
    # name: (server certificate, response stapled, expected verify code)
    "revoked": ("revoked", "revoked", CERT_REVOKED),
    "unknown": ("unknown", "unknown", OCSP_CERT_UNKNOWN),
    "about another certificate": ("good", "revoked", OCSP_VERIFY_FAILED),
    "signed by a stranger": ("good", "forged", OCSP_VERIFY_FAILED),
    "not DER": ("good", "garbage", OCSP_VERIFY_FAILED),
}
MESSAGES = {
    CERT_REVOKED: "certificate revoked",
    OCSP_CERT_UNKNOWN: "OCSP unknown cert",
    OCSP_VERIFY_FAILED: "OCSP verification failed",
}


def response_named(ocsp, name):
    if name == "forged":
        return ocsp.forged
    if name == "garbage":
        return b"not an OCSP response"
    return getattr(ocsp, name).response


@pytest.mark.parametrize("version", VERSIONS)
def test_good_response_passes_the_check(handshake, ocsp, version):
    client, server = handshake(
        stapling_server(pyssl, ocsp.good, ocsp.good.response, version),
        ocsp_client(ocsp, check_ocsp_response=True),
        on_client=lambda tls: (tls.version(), stapled(tls)),
    )
    assert client == (version, ocsp.good.response)
    assert server == version


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", CHECKS)
def test_check_fails_the_handshake(handshake, ocsp, case, version):
    cert, response, code = CHECKS[case]
    server_ctx = stapling_server(
        pyssl, getattr(ocsp, cert), response_named(ocsp, response), version
    )
    client, server = handshake(server_ctx, ocsp_client(ocsp, check_ocsp_response=True))
    assert type(client) is pyssl.SSLCertVerificationError
    assert (client.verify_code, client.verify_message) == (code, MESSAGES[code])
    assert (client.library, client.reason) == ("SSL", "INVALID_STATUS_RESPONSE")
    assert type(server) is pyssl.SSLError
    assert server.reason == "TLSV1_BAD_CERTIFICATE_STATUS_RESPONSE"


@pytest.mark.parametrize("case", CHECKS)
def test_without_the_check_the_response_is_only_read(handshake, ocsp, case):
    cert, response, _code = CHECKS[case]
    staple = response_named(ocsp, response)
    client, _server = handshake(
        stapling_server(pyssl, getattr(ocsp, cert), staple),
        ocsp_client(ocsp, request_ocsp_response=True),
        on_client=stapled,
    )
    assert client == staple


def test_unverified_chain_is_not_checked_under_cert_none(handshake, ocsp):
    """With CERT_NONE and a chain that does not verify (no CA loaded),
    there is nothing verified to check the response against."""
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = pyssl.CERT_NONE
    ctx.check_ocsp_response = True
    client, _server = handshake(
        stapling_server(pyssl, ocsp.revoked, ocsp.revoked.response),
        ctx,
        on_client=stapled,
    )
    assert client == ocsp.revoked.response


def test_check_works_with_the_verify_callback(handshake, ocsp):
    calls = []
    ctx = ocsp_client(ocsp, check_ocsp_response=True)
    ctx.set_verify_callback(lambda cert, depth, code, ok: calls.append(depth) or ok)
    client, _server = handshake(
        stapling_server(pyssl, ocsp.revoked, ocsp.revoked.response), ctx
    )
    assert calls == [1, 0]
    assert client.verify_code == CERT_REVOKED


# ---- the settings -----------------------------------------------------------------------


def test_check_implies_request():
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    assert (ctx.request_ocsp_response, ctx.check_ocsp_response) == (False, False)
    ctx.check_ocsp_response = True
    assert (ctx.request_ocsp_response, ctx.check_ocsp_response) == (True, True)
    with pytest.raises(ValueError) as info:
        ctx.request_ocsp_response = False
    assert info.value.args == (
        "Cannot disable request_ocsp_response when check_ocsp_response is enabled.",
    )
    ctx.check_ocsp_response = False
    ctx.request_ocsp_response = False
    assert (ctx.request_ocsp_response, ctx.check_ocsp_response) == (False, False)


@pytest.mark.parametrize(
    "protocol, action, error",
    [
        (
            pyssl.PROTOCOL_TLS_CLIENT,
            lambda ctx: ctx.set_ocsp_response(b"x"),
            "set_ocsp_response() cannot be used on a TLS_CLIENT context",
        ),
        (
            pyssl.PROTOCOL_TLS_SERVER,
            lambda ctx: setattr(ctx, "request_ocsp_response", True),
            "request_ocsp_response cannot be set on a TLS_SERVER context",
        ),
        (
            pyssl.PROTOCOL_TLS_SERVER,
            lambda ctx: setattr(ctx, "check_ocsp_response", True),
            "check_ocsp_response cannot be set on a TLS_SERVER context",
        ),
    ],
    ids=["staple on a client", "request on a server", "check on a server"],
)
def test_settings_of_the_other_side_raise_value_error(protocol, action, error):
    with pytest.raises(ValueError) as info:
        action(pyssl.SSLContext(protocol))
    assert info.value.args == (error,)


@pytest.mark.parametrize(
    "response, error",
    [
        ("text", (TypeError, "an OCSP response must be a bytes-like object, not str")),
        (3, (TypeError, "an OCSP response must be a bytes-like object, not int")),
        (b"", (ValueError, "an OCSP response cannot be empty")),
    ],
)
def test_staple_of_a_wrong_type_or_empty_raises(response, error):
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_SERVER)
    with pytest.raises(error[0]) as info:
        ctx.set_ocsp_response(response)
    assert info.value.args == (error[1],)


class Unavailable(Exception):
    pass


@pytest.mark.parametrize(
    "result, cause",
    [
        (Unavailable("responder down"), Unavailable),
        ("text", TypeError),
        (b"", ValueError),
    ],
    ids=["raises", "returns str", "returns empty bytes"],
)
def test_failing_staple_callback_fails_the_server_handshake(
    handshake, ocsp, result, cause
):
    def staple(conn):
        if isinstance(result, BaseException):
            raise result
        return result

    client, server = handshake(
        stapling_server(pyssl, ocsp.good, staple),
        ocsp_client(ocsp, request_ocsp_response=True),
    )
    assert type(server) is pyssl.SSLError
    assert (server.library, server.reason) == ("SSL", "CLIENTHELLO_TLSEXT")
    assert type(server.__cause__) is cause
    if isinstance(result, BaseException):
        assert server.__cause__ is result
    assert type(client) is pyssl.SSLError
    assert client.reason == "TLSV1_ALERT_INTERNAL_ERROR"


def test_has_ocsp_stapling_is_exported():
    assert pyssl.HAS_OCSP_STAPLING is True
    assert "HAS_OCSP_STAPLING" in pyssl.__all__


# ---- against the openssl programs ---------------------------------------------------


def s_server(ocsp: Responses, server: Server, *args: str) -> tuple[OpenSSLProcess, int]:
    proc = OpenSSLProcess(
        [
            "s_server",
            "-accept",
            "127.0.0.1:0",
            "-cert",
            server.cert,
            "-key",
            server.key,
            "-naccept",
            "1",
            *args,
        ]
    )
    line = proc.wait_for(b"ACCEPT")
    return proc, int(line.rsplit(b":", 1)[1])


@pytest.fixture
def openssl_stapling(tmp_path, ocsp):
    """openssl_stapling(server) starts s_server stapling the response made
    for ``server`` (-status_file); returns its port."""
    processes = []

    def start(server: Server) -> int:
        status_file = tmp_path / "status.der"
        status_file.write_bytes(server.response)
        proc, port = s_server(ocsp, server, "-status_file", str(status_file))
        processes.append(proc)
        return port

    yield start
    for proc in processes:
        proc.stop()


def connect(port: int, ctx):
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        return ctx.wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise


@pytest.mark.parametrize("name", ["good", "revoked"])
def test_client_reads_the_response_of_openssl_s_server(ocsp, openssl_stapling, name):
    server = getattr(ocsp, name)
    port = openssl_stapling(server)
    with connect(port, ocsp_client(ocsp, request_ocsp_response=True)) as tls:
        assert tls.get_ocsp_response() == server.response


@pytest.mark.parametrize("name, code", [("good", None), ("revoked", CERT_REVOKED)])
def test_client_checks_the_response_of_openssl_s_server(
    ocsp, openssl_stapling, name, code
):
    port = openssl_stapling(getattr(ocsp, name))
    ctx = ocsp_client(ocsp, check_ocsp_response=True)
    if code is None:
        with connect(port, ctx) as tls:
            assert tls.get_ocsp_response() == ocsp.good.response
        return
    with pytest.raises(pyssl.SSLCertVerificationError) as info:
        connect(port, ctx)
    assert (info.value.verify_code, info.value.verify_message) == (code, MESSAGES[code])


def test_client_gets_none_from_openssl_s_server_without_status(ocsp):
    proc, port = s_server(ocsp, ocsp.good)
    try:
        with connect(port, ocsp_client(ocsp, check_ocsp_response=True)) as tls:
            assert tls.get_ocsp_response() is None
    finally:
        proc.stop()


@contextlib.contextmanager
def s_client_asking(serve, ocsp: Responses, server_ctx, greeting: bytes, *args: str):
    """``openssl s_client -status`` (with ``args``), trusting the CA,
    connected to a pyssl server on loopback that wraps with ``server_ctx``
    and sends ``greeting``; the process, stopped after, and the server
    joined."""

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(greeting)

    listening = serve(handler)
    client = OpenSSLProcess(
        [
            "s_client",
            "-connect",
            f"127.0.0.1:{listening.port}",
            "-CAfile",
            ocsp.ca,
            "-servername",
            "localhost",
            "-status",
            *args,
        ]
    )
    try:
        yield client
    finally:
        client.stop()
    listening.join()


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
@pytest.mark.parametrize("name", ["good", "revoked"])
def test_openssl_s_client_sees_the_staple(serve, ocsp, version, name):
    server = getattr(ocsp, name)
    ctx = stapling_server(pyssl, server, server.response)
    with s_client_asking(serve, ocsp, ctx, b"stapled\n", version) as client:
        client.wait_for(b"OCSP Response Status: successful")
        status = client.wait_for(b"Cert Status:")
        client.wait_for(b"stapled")
    assert status.split(b":", 1)[1].strip() == name.encode()


def test_openssl_s_client_sees_no_staple(serve, ocsp):
    ctx = stapling_server(pyssl, ocsp.good, lambda conn: None)
    with s_client_asking(serve, ocsp, ctx, b"nothing stapled\n") as client:
        line = client.wait_for(b"OCSP response:")
        client.wait_for(b"nothing stapled")
    assert b"no response sent" in line
