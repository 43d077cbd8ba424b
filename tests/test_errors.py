"""The exceptions an SSLSocket raises: their hierarchy, their message and
attributes for each way a handshake fails, what a misbehaving peer causes,
and the checks on arguments. Each is asserted for pyssl and the stdlib."""

from __future__ import annotations

import errno
import random
import re
import socket
import struct
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
import trustme
from cert_files import CertFiles
from peers import TIMEOUT, client_context, connect_tls, server_context
from ssl_modules import close_what_wrap_socket_left_open, openssl_at_least

import pyssl

# ---- the hierarchy -------------------------------------------------------------------


def test_exception_hierarchy(either):
    assert issubclass(either.SSLError, OSError)
    for name in (
        "SSLZeroReturnError",
        "SSLWantReadError",
        "SSLWantWriteError",
        "SSLSyscallError",
        "SSLEOFError",
        "SSLCertVerificationError",
    ):
        assert issubclass(getattr(either, name), either.SSLError), name
    assert issubclass(either.SSLCertVerificationError, ValueError)
    assert either.CertificateError is either.SSLCertVerificationError


def test_ssl_error_numbers(either):
    assert either.SSL_ERROR_SSL == 1
    assert either.SSL_ERROR_WANT_READ == 2
    assert either.SSL_ERROR_WANT_WRITE == 3
    assert either.SSL_ERROR_SYSCALL == 5
    assert either.SSL_ERROR_ZERO_RETURN == 6
    assert either.SSL_ERROR_EOF == 8


def test_exceptions_live_in_the_module(either):
    for name in ("SSLError", "SSLEOFError", "SSLCertVerificationError"):
        assert getattr(either, name).__module__ == either.__name__


# ---- reading an error -------------------------------------------------------------------

# The stdlib ends its messages with the C source line, pyssl with the
# operation: " (_ssl.c:1006)", " (pyssl:do_handshake)".
LOCATION = re.compile(r" \((?:_ssl\.c:\d+|pyssl:\w+)\)$")


def message(error: BaseException) -> str:
    return LOCATION.sub("", str(error))


def describe(error: BaseException | None) -> tuple | None:
    """What an error says, location aside: for comparing two modules."""
    if error is None:
        return None
    return (
        type(error).__name__,
        error.args[0] if error.args else None,
        getattr(error, "library", None),
        getattr(error, "reason", None),
        getattr(error, "verify_code", None),
        getattr(error, "verify_message", None),
        message(error),
    )


# ---- certificates that fail verification -----------------------------------------


@dataclass(frozen=True)
class BadCerts:
    ca: str  # the CA of the expired certificate
    expired_chain: str  # key + a localhost certificate that expired in 2001
    self_signed_chain: str  # key + a self-signed certificate (a CA's own)


@pytest.fixture(scope="module")
def bad_certs(tmp_path_factory: pytest.TempPathFactory) -> BadCerts:
    base = tmp_path_factory.mktemp("bad-certs")
    ca = trustme.CA()
    # trustme's certificates are valid from 2000-01-01.
    expired = ca.issue_cert(
        "localhost", not_after=datetime(2001, 1, 1, tzinfo=timezone.utc)
    )
    lonely = trustme.CA()

    def write(name: str, blob: bytes) -> str:
        path = base / name
        path.write_bytes(blob)
        return str(path)

    return BadCerts(
        ca=write("ca.pem", ca.cert_pem.bytes()),
        expired_chain=write(
            "expired.pem", expired.private_key_and_cert_chain_pem.bytes()
        ),
        self_signed_chain=write(
            "self-signed.pem", lonely.private_key_pem.bytes() + lonely.cert_pem.bytes()
        ),
    )


# ---- handshakes that fail ------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A handshake set up to fail, and what each side must raise:
    (exception class name, reason, verify_code, message without location)."""

    client: tuple[str, str, int | None, str]
    server: tuple[str, str, int | None, str]
    server_hostname: str = "localhost"


def verify_failed(code: int, text: str) -> tuple[str, str, int, str]:
    return (
        "SSLCertVerificationError",
        "CERTIFICATE_VERIFY_FAILED",
        code,
        f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {text}",
    )


def alert(reason: str, text: str) -> tuple[str, str, None, str]:
    return ("SSLError", reason, None, f"[SSL: {reason}] {text}")


UNKNOWN_CA_ALERT = alert("TLSV1_ALERT_UNKNOWN_CA", "tlsv1 alert unknown ca")
BAD_CERTIFICATE_ALERT = alert(
    "SSLV3_ALERT_BAD_CERTIFICATE", "sslv3 alert bad certificate"
)

SCENARIOS = {
    "unknown CA": Scenario(
        client=verify_failed(20, "unable to get local issuer certificate"),
        server=UNKNOWN_CA_ALERT,
    ),
    "self-signed": Scenario(
        client=verify_failed(18, "self-signed certificate"),
        server=UNKNOWN_CA_ALERT,
    ),
    "hostname mismatch": Scenario(
        client=verify_failed(
            62, "Hostname mismatch, certificate is not valid for 'wrong.example'."
        ),
        server=BAD_CERTIFICATE_ALERT,
        server_hostname="wrong.example",
    ),
    "IP address mismatch": Scenario(
        client=verify_failed(
            64, "IP address mismatch, certificate is not valid for '127.0.0.2'."
        ),
        server=BAD_CERTIFICATE_ALERT,
        server_hostname="127.0.0.2",
    ),
    "expired": Scenario(
        client=verify_failed(10, "certificate has expired"),
        server=alert(
            "SSLV3_ALERT_CERTIFICATE_EXPIRED", "sslv3 alert certificate expired"
        ),
    ),
    "no client certificate, TLS 1.3": Scenario(
        client=alert(
            "TLSV13_ALERT_CERTIFICATE_REQUIRED", "tlsv13 alert certificate required"
        ),
        server=alert(
            "PEER_DID_NOT_RETURN_A_CERTIFICATE", "peer did not return a certificate"
        ),
    ),
    "no client certificate, TLS 1.2": Scenario(
        client=alert("SSLV3_ALERT_HANDSHAKE_FAILURE", "sslv3 alert handshake failure"),
        server=alert(
            "PEER_DID_NOT_RETURN_A_CERTIFICATE", "peer did not return a certificate"
        ),
    ),
    "protocol version": Scenario(
        client=alert("TLSV1_ALERT_PROTOCOL_VERSION", "tlsv1 alert protocol version"),
        server=alert("UNSUPPORTED_PROTOCOL", "unsupported protocol"),
    ),
}


def contexts(name: str, server_module, client_module, certs: CertFiles, bad: BadCerts):
    """The (server, client) contexts that make scenario ``name`` fail."""
    server_ctx = server_context(server_module, certs)
    client_ctx = client_context(client_module, certs)
    if name == "unknown CA":
        client_ctx = client_module.SSLContext(client_module.PROTOCOL_TLS_CLIENT)
        client_ctx.load_verify_locations(certs.other_ca)
    elif name == "self-signed":
        server_ctx = server_module.SSLContext(server_module.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(bad.self_signed_chain)
    elif name == "expired":
        server_ctx = server_module.SSLContext(server_module.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(bad.expired_chain)
        client_ctx.load_verify_locations(bad.ca)
    elif name.startswith("no client certificate"):
        server_ctx.verify_mode = server_module.CERT_REQUIRED
        server_ctx.load_verify_locations(certs.ca)
        if name.endswith("1.2"):
            client_ctx.maximum_version = client_module.TLSVersion.TLSv1_2
    elif name == "protocol version":
        server_ctx.minimum_version = server_module.TLSVersion.TLSv1_3
        client_ctx.maximum_version = client_module.TLSVersion.TLSv1_2
    return server_ctx, client_ctx


def run_handshake(serve, server_ctx, client_ctx, server_hostname="localhost"):
    """One connection: the handshake, then the client reads (in TLS 1.3
    the server judges the client's certificate after the client's
    handshake is over). Returns (client error, server error), None for a
    side that met none."""

    def handler(conn):
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"!")
        except OSError as exc:
            return exc
        return None

    server = serve(handler)
    client_error = None
    try:
        with server.connect() as raw:
            with client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
                assert tls.recv(1) == b"!"
    except OSError as exc:
        client_error = exc
    [server_error] = server.join()
    return client_error, server_error


def spellings(text: str) -> set[str]:
    """``text`` as OpenSSL releases spell it: newer ones (3.5 among them)
    call the alerts SSLv3 defined "ssl/tls alert ...", as TLS uses them too."""
    return {text, text.replace("] sslv3 alert ", "] ssl/tls alert ")}


def check(error, module, expected) -> None:
    name, reason, verify_code, text = expected
    assert type(error) is getattr(module, name), repr(error)
    assert isinstance(error, module.SSLError)
    assert error.args[0] == module.SSL_ERROR_SSL
    assert error.library == "SSL"
    assert error.reason == reason
    assert message(error) in spellings(text)
    if verify_code is not None:
        assert error.verify_code == verify_code
        assert text.endswith(error.verify_message)
        assert isinstance(error, ValueError)


@pytest.mark.parametrize("name", SCENARIOS)
def test_client_side_handshake_errors(serve, certs, bad_certs, either, peer, name):
    scenario = SCENARIOS[name]
    server_ctx, client_ctx = contexts(name, peer, either, certs, bad_certs)
    client_error, _ = run_handshake(
        serve, server_ctx, client_ctx, scenario.server_hostname
    )
    check(client_error, either, scenario.client)


@pytest.mark.parametrize("name", SCENARIOS)
def test_server_side_handshake_errors(serve, certs, bad_certs, either, peer, name):
    scenario = SCENARIOS[name]
    server_ctx, client_ctx = contexts(name, either, peer, certs, bad_certs)
    _, server_error = run_handshake(
        serve, server_ctx, client_ctx, scenario.server_hostname
    )
    check(server_error, either, scenario.server)


# The same failures with the openssl program on the other side.


def pyssl_client_error(ctx, port: int) -> BaseException:
    """What a pyssl client with ``ctx`` meets from the server on ``port``:
    in the handshake, or at its first read (TLS 1.3 client certificates)."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with pytest.raises(pyssl.SSLError) as caught:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.recv(1)
    return caught.value


def test_pyssl_client_rejecting_openssl_s_server(certs, bad_certs, openssl_server):
    _, port = openssl_server()
    _, client_ctx = contexts("unknown CA", pyssl, pyssl, certs, bad_certs)
    error = pyssl_client_error(client_ctx, port)
    check(error, pyssl, SCENARIOS["unknown CA"].client)


def test_openssl_s_server_requiring_a_client_certificate(
    certs, bad_certs, openssl_server
):
    # -Verify: a client certificate is required, not merely asked for.
    _, port = openssl_server("-Verify", "1", "-CAfile", certs.ca)
    name = "no client certificate, TLS 1.3"
    _, client_ctx = contexts(name, pyssl, pyssl, certs, bad_certs)
    error = pyssl_client_error(client_ctx, port)
    check(error, pyssl, SCENARIOS[name].client)


def test_openssl_s_client_without_a_client_certificate(
    serve, certs, bad_certs, openssl_client
):
    name = "no client certificate, TLS 1.3"
    server_ctx, _ = contexts(name, pyssl, pyssl, certs, bad_certs)

    def handler(conn):
        with pytest.raises(pyssl.SSLError) as caught:
            server_ctx.wrap_socket(conn, server_side=True)
        return caught.value

    server = serve(handler)
    openssl_client(server.port)
    [error] = server.join()
    check(error, pyssl, SCENARIOS[name].server)


# ---- misbehaving peers --------------------------------------------------------------

GARBAGE = {
    "HTTP response": b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    "HTTP request": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "SMTP greeting": b"220 mail.example ESMTP ready\r\n",
    **{f"random bytes {seed}": random.Random(seed).randbytes(600) for seed in range(4)},
}


def finish(sock: socket.socket) -> None:
    """Send FIN, then read until the peer closes, so that closing sends no
    RST. The peer may already have reset the connection: then nothing is
    left to do."""
    sock.settimeout(TIMEOUT)
    try:
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass
    except OSError:
        pass


def client_facing_garbage(serve, module, certs, garbage: bytes):
    """The error a ``module`` client meets when the server answers its
    ClientHello with ``garbage`` and closes."""

    def handler(conn):
        conn.recv(65536)  # the ClientHello
        conn.sendall(garbage)
        finish(conn)

    server = serve(handler)
    try:
        connect_tls(module, certs, server, timeout=TIMEOUT).close()
    except OSError as exc:
        return exc
    finally:
        server.join()
    raise AssertionError("the handshake succeeded on garbage")


def server_facing_garbage(serve, module, certs, garbage: bytes):
    """The error a ``module`` server meets when a client sends ``garbage``
    instead of a ClientHello and closes."""

    def handler(conn):
        try:
            server_context(module, certs).wrap_socket(conn, server_side=True).close()
        except OSError as exc:
            return exc
        raise AssertionError("the handshake succeeded on garbage")

    server = serve(handler)
    with server.connect() as raw:
        raw.sendall(garbage)
        finish(raw)
    [error] = server.join()
    return error


FACING = {"client": client_facing_garbage, "server": server_facing_garbage}


@pytest.mark.parametrize("side", FACING)
@pytest.mark.parametrize("kind", GARBAGE)
def test_garbage_from_the_peer_is_an_ssl_error(serve, certs, either, side, kind):
    # No hang either: the peer has closed, and the timeout is TIMEOUT.
    error = FACING[side](serve, either, certs, GARBAGE[kind])
    assert isinstance(error, either.SSLError), repr(error)
    assert error.library == "SSL"
    assert str(error).startswith(f"[SSL: {error.reason}] ")


def test_plain_http_to_a_server_is_named(serve, certs, either):
    error = server_facing_garbage(serve, either, certs, GARBAGE["HTTP request"])
    assert error.reason == "HTTP_REQUEST"
    assert message(error) == "[SSL: HTTP_REQUEST] http request"


@pytest.mark.parametrize("side", FACING)
@pytest.mark.parametrize("kind", GARBAGE)
def test_garbage_errors_match_the_stdlib(
    serve, certs, stdlib_on_the_same_openssl, side, kind
):
    # Only a stdlib on the same OpenSSL release must give pyssl's reasons.
    ours = FACING[side](serve, pyssl, certs, GARBAGE[kind])
    theirs = FACING[side](serve, stdlib_on_the_same_openssl, certs, GARBAGE[kind])
    assert describe(ours) == describe(theirs)


def reset_on_close(sock: socket.socket) -> None:
    # Lingering on, for 0 seconds: close() sends RST instead of FIN.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_server_closing_mid_handshake(serve, certs, either):
    def handler(conn):
        conn.recv(65536)  # the ClientHello, then a clean TCP close

    server = serve(handler)
    # suppress_ragged_eofs is for reads: a cut handshake always raises.
    with pytest.raises(either.SSLEOFError) as caught:
        connect_tls(either, certs, server, suppress_ragged_eofs=True)
    server.join()
    error = caught.value
    assert error.args[0] == either.SSL_ERROR_EOF
    assert error.reason == "UNEXPECTED_EOF_WHILE_READING"
    assert message(error) == (
        "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol"
    )


def test_server_resetting_mid_handshake(serve, certs, either):
    def handler(conn):
        conn.recv(65536)
        reset_on_close(conn)

    server = serve(handler)
    with pytest.raises(ConnectionResetError):
        connect_tls(either, certs, server)
    server.join()


def test_client_closing_mid_handshake(serve, certs, either):
    def handler(conn):
        with pytest.raises(either.SSLEOFError) as caught:
            server_context(either, certs).wrap_socket(conn, server_side=True)
        return caught.value

    server = serve(handler)
    with server.connect() as raw:
        # A handshake record announcing 512 bytes, cut after 11.
        raw.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        finish(raw)
    [error] = server.join()
    assert error.args[0] == either.SSL_ERROR_EOF
    assert error.reason == "UNEXPECTED_EOF_WHILE_READING"


# ---- the connection taken away underneath ----------------------------------------------


# Before 3.13 the stdlib reported a failed send/recv system call as an EOF
# that broke the protocol (CPython gh-115627); since 3.13 it raises the
# OSError. pyssl does what the running Python's stdlib does.
SYSTEM_ERRORS_RAISED = sys.version_info >= (3, 13)

# OpenSSL 3.2's record layer queues the errno of a failed send() as an
# error of ERR_LIB_SYS. The stdlib raises that as the OSError since CPython
# gh-127257 (3.10.17, 3.11.12, 3.12.9, 3.13.2), on every Python version;
# before, as SSLError("[SYS] unknown error").
_QUEUED_ERRNO_RAISED_SINCE = {(3, 10): 17, (3, 11): 12, (3, 12): 9, (3, 13): 2}
STDLIB_RAISES_QUEUED_ERRNO = sys.version_info.micro >= _QUEUED_ERRNO_RAISED_SINCE.get(
    sys.version_info[:2], 0
)


def expect_system_error(module, operation, error, suppress_ragged_eofs, number=None):
    """``operation`` fails with ``error`` (an OSError subclass; of errno
    ``number`` if given) on 3.13+; before, with the ragged-EOF outcome:
    nothing read, or SSLEOFError. A write on the stdlib over OpenSSL 3.2
    or later fails as that stdlib reports the errno OpenSSL queues."""
    queued = (
        module is not pyssl
        and operation.__name__ == "write"
        and openssl_at_least(module, 3, 2)
    )
    if STDLIB_RAISES_QUEUED_ERRNO if queued else SYSTEM_ERRORS_RAISED:
        with pytest.raises(error) as info:
            operation()
        assert number is None or info.value.errno == number
    elif queued:
        with pytest.raises(module.SSLError) as info:
            operation()
        assert (info.value.library, info.value.reason) == ("SYS", None)
    elif suppress_ragged_eofs and operation.__name__ == "read":
        assert operation() in (b"", 0)
    else:
        with pytest.raises(module.SSLEOFError):
            operation()


def echo_byte(tls):
    tls.sendall(tls.recv(1))


@pytest.mark.parametrize("suppress_ragged_eofs", [True, False])
def test_peer_resetting_the_connection(serve_tls, certs, either, suppress_ragged_eofs):
    def handler(tls):
        echo_byte(tls)
        # Reset only once the client has read the echo and said so.
        assert tls.recv(1) == b"y"
        reset_on_close(tls)

    server = serve_tls(either, handler)
    with connect_tls(
        either, certs, server, suppress_ragged_eofs=suppress_ragged_eofs
    ) as tls:
        tls.sendall(b"x")
        assert tls.recv(1) == b"x"
        tls.sendall(b"y")
        server.join()

        def read():
            return tls.recv(1)

        # Since 3.13 a reset is no EOF: suppress_ragged_eofs does not hide it.
        expect_system_error(either, read, ConnectionResetError, suppress_ragged_eofs)


READS = {
    "recv": (lambda tls: tls.recv(10), b""),
    "recv_into": (lambda tls: tls.recv_into(bytearray(10)), 0),
    "read": (lambda tls: tls.read(10), b""),
    "read into": (lambda tls: tls.read(10, bytearray(10)), 0),
}


@pytest.mark.parametrize("method", READS)
@pytest.mark.parametrize("suppress_ragged_eofs", [True, False])
def test_an_eof_without_close_notify_ends_every_read(
    serve_tls, certs, either, method, suppress_ragged_eofs
):
    done = threading.Event()

    def handler(tls):
        echo_byte(tls)
        # The TCP stream ends with no close_notify before it.
        with socket.fromfd(tls.fileno(), tls.family, tls.type) as raw:
            raw.shutdown(socket.SHUT_WR)
        done.wait(TIMEOUT)

    server = serve_tls(either, handler)
    read, end_of_stream = READS[method]
    with connect_tls(
        either, certs, server, suppress_ragged_eofs=suppress_ragged_eofs
    ) as tls:
        tls.sendall(b"x")
        assert tls.recv(1) == b"x"
        try:
            if suppress_ragged_eofs:
                assert read(tls) == end_of_stream
            else:
                with pytest.raises(either.SSLEOFError):
                    read(tls)
        finally:
            done.set()
    server.join()


def test_connection_shut_down_underneath(serve_tls, certs, either):
    server = serve_tls(either, echo_byte)
    with connect_tls(either, certs, server, suppress_ragged_eofs=False) as tls:
        tls.sendall(b"x")
        assert tls.recv(1) == b"x"
        # Another socket object on a duplicate of the descriptor shuts the
        # TCP connection down under the SSLSocket.
        with socket.fromfd(tls.fileno(), tls.family, tls.type) as other:
            other.shutdown(socket.SHUT_RDWR)

        def write():
            return tls.sendall(b"more")

        expect_system_error(either, write, BrokenPipeError, False)
        with pytest.raises(either.SSLEOFError):
            tls.recv(1)
    server.join()


@pytest.mark.parametrize("suppress_ragged_eofs", [True, False])
def test_eof_stays_the_error_when_the_alert_about_it_cannot_be_sent(
    certs, peer, suppress_ragged_eofs
):
    # Over a socket pair, the alert a pyssl server sends about the client's
    # missing close_notify meets a closed end: OpenSSL 3.2 and later queue
    # EPIPE after the EOF. The EOF is still what the read reports.
    client_sock, server_sock = socket.socketpair()
    closed = threading.Event()
    outcome = []

    def serve():
        with server_context(pyssl, certs).wrap_socket(
            server_sock, server_side=True, suppress_ragged_eofs=suppress_ragged_eofs
        ) as tls:
            tls.sendall(tls.recv(1))
            assert closed.wait(TIMEOUT)
            try:
                outcome.append(tls.recv(10))
            except OSError as exc:
                outcome.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    with client_context(peer, certs).wrap_socket(
        client_sock, server_hostname="localhost"
    ) as tls:
        tls.sendall(b"x")
        assert tls.recv(1) == b"x"
    closed.set()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    if suppress_ragged_eofs:
        assert outcome == [b""]
    else:
        (error,) = outcome
        assert type(error) is pyssl.SSLEOFError
        assert (error.library, error.reason) == ("SSL", "UNEXPECTED_EOF_WHILE_READING")


def test_descriptor_closed_underneath(serve_tls, certs, either):
    server = serve_tls(either, echo_byte)
    # Blocking: with a timeout, the stdlib polls the descriptor before
    # writing and raises SSLError("Underlying socket has been closed.").
    tls = connect_tls(either, certs, server, timeout=None)
    tls.sendall(b"x")
    assert tls.recv(1) == b"x"
    server.join()
    # detach() leaves the TLS layer in place; closing the descriptor it
    # handed over leaves that layer without a socket. Nothing else runs
    # now, so the descriptor number cannot be reused before the calls.
    socket.socket(fileno=tls.detach()).close()

    def read():
        return tls.recv(1)

    def write():
        return tls.write(b"x")

    for operation in (read, write):
        expect_system_error(
            either, operation, OSError, tls.suppress_ragged_eofs, errno.EBADF
        )
    tls.close()


# ---- arguments ---------------------------------------------------------------------------


@pytest.fixture
def tls_client(serve_tls, certs, either):
    server = serve_tls(either, lambda tls: tls.sendall(b"!"))
    with connect_tls(either, certs, server) as tls:
        assert tls.recv(1) == b"!"
        yield tls
    server.join()


@pytest.mark.parametrize("method", ["write", "send", "sendall"])
@pytest.mark.parametrize("data", ["str", 5, None])
def test_sending_needs_a_bytes_like_object(tls_client, method, data):
    with pytest.raises(TypeError, match="a bytes-like object is required"):
        getattr(tls_client, method)(data)


@pytest.mark.parametrize(
    "buffer, kind",
    [(b"immutable", "bytes"), (memoryview(bytearray(6))[::2], "memoryview")],
)
def test_reading_into_needs_a_writable_contiguous_buffer(tls_client, buffer, kind):
    message = f"read() argument 2 must be read-write bytes-like object, not {kind}"
    with pytest.raises(TypeError) as caught:
        tls_client.recv_into(buffer)
    assert str(caught.value) == message
    with pytest.raises(TypeError) as caught:
        tls_client.read(3, buffer)
    assert str(caught.value) == message


@pytest.mark.parametrize("size", ["10", 1.5, None])
def test_read_length_must_be_an_integer(tls_client, size):
    name = type(size).__name__
    with pytest.raises(TypeError) as caught:
        tls_client.read(size)
    assert str(caught.value) == f"'{name}' object cannot be interpreted as an integer"


def wrap_connected(module, sock, server_hostname, check_hostname=True):
    ctx = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = check_hostname
    return ctx.wrap_socket(
        sock, server_hostname=server_hostname, do_handshake_on_connect=False
    )


def test_server_hostname_of_the_wrong_type(connected_pair, either):
    # The stdlib decodes anything but str as ASCII bytes.
    with pytest.raises(AttributeError, match="has no attribute 'decode'") as caught:
        wrap_connected(either, connected_pair[0], 123)
    close_what_wrap_socket_left_open(caught.value)


@pytest.mark.parametrize("hostname", ["", b"", b".example.org"])
def test_server_hostname_empty_or_with_a_leading_dot(connected_pair, either, hostname):
    with pytest.raises(ValueError) as caught:
        wrap_connected(either, connected_pair[0], hostname, check_hostname=False)
    assert str(caught.value) == (
        "server_hostname cannot be an empty string or start with a leading dot."
    )


def test_server_hostname_with_a_leading_dot_fails_idna(connected_pair, either):
    # A str goes through the IDNA codec first, which refuses the empty label.
    with pytest.raises(UnicodeError) as caught:
        wrap_connected(either, connected_pair[0], ".example.org")
    close_what_wrap_socket_left_open(caught.value)


# The IDNA codec's answer for each, which server_hostname must give: ASCII
# names returned as they are (case kept), labels of 63 and 64 characters,
# empty labels, a name longer than 63 characters, a trailing dot and a
# name the codec converts.
IDNA_NAMES = [
    "localhost",
    "Example.ORG",
    "a" * 63,
    "a" * 64,
    "a" * 63 + ".example",
    "a" * 64 + ".example",
    "example." + "b" * 64,
    "a..b",
    "a.",
    ".",
    "-leading-hyphen.example",
    "x" * 40 + "." + "y" * 40,
    "xn--bcher-kva.example",
    "bücher.example",
]


@pytest.mark.parametrize("name", IDNA_NAMES)
def test_server_hostname_is_encoded_as_the_idna_codec_encodes_it(name):
    context = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    try:
        expected = name.encode("idna").decode("ascii")
    except UnicodeError as refused:
        with pytest.raises(type(refused)) as caught:
            context.wrap_bio(pyssl.MemoryBIO(), pyssl.MemoryBIO(), server_hostname=name)
        assert str(caught.value) == str(refused)
        return
    tls = context.wrap_bio(pyssl.MemoryBIO(), pyssl.MemoryBIO(), server_hostname=name)
    assert tls.server_hostname == expected


@pytest.mark.parametrize("hostname", ["local\0host", b"local\0host"])
def test_server_hostname_with_a_nul_character(connected_pair, either, hostname):
    with pytest.raises(TypeError, match="null") as caught:
        wrap_connected(either, connected_pair[0], hostname)
    close_what_wrap_socket_left_open(caught.value)
