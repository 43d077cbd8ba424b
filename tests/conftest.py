"""Shared fixtures: certificates made for this test session, and real TLS
peers on loopback — threaded servers (pyssl or the stdlib ``ssl``) and the
``openssl s_server`` / ``s_client`` programs."""

from __future__ import annotations

import queue
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
import trustme

import pyssl

try:
    import ssl as stdlib_ssl
except ImportError:  # an interpreter built without ssl
    stdlib_ssl = None  # type: ignore[assignment]

TIMEOUT = 15.0
OPENSSL = shutil.which("openssl")


@dataclass(frozen=True)
class CertFiles:
    """Paths of the PEM files a test session uses."""

    ca: str  # the CA that signed the server and client certificates
    server_chain: str  # server certificate + key, for localhost/127.0.0.1/::1
    server_cert: str
    server_key: str
    server_key_encrypted: str  # the server key, encrypted with PASSWORD
    client_chain: str
    client_cert: str
    client_key: str
    other_ca: str  # a CA that signed nothing here
    other_key: str  # a key that matches no certificate here
    tmpdir: Path


PASSWORD = "correct horse"


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    base = tmp_path_factory.mktemp("certs")
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1", "::1")
    client = ca.issue_cert("client@example.org", common_name="pyssl test client")
    other_ca = trustme.CA()
    other = other_ca.issue_cert("elsewhere.example")

    def write(name: str, blob: trustme.Blob | bytes) -> str:
        path = base / name
        if isinstance(blob, bytes):
            path.write_bytes(blob)
        else:
            blob.write_to_path(str(path))
        return str(path)

    key_pem = server.private_key_pem.bytes()
    encrypted = subprocess.run(
        [OPENSSL or "openssl", "pkey", "-aes256", "-passout", f"pass:{PASSWORD}"],
        input=key_pem,
        capture_output=True,
        check=True,
    ).stdout
    return CertFiles(
        ca=write("ca.pem", ca.cert_pem),
        server_chain=write("server.pem", server.private_key_and_cert_chain_pem),
        server_cert=write("server-cert.pem", server.cert_chain_pems[0]),
        server_key=write("server-key.pem", server.private_key_pem),
        server_key_encrypted=write("server-key-encrypted.pem", encrypted),
        client_chain=write("client.pem", client.private_key_and_cert_chain_pem),
        client_cert=write("client-cert.pem", client.cert_chain_pems[0]),
        client_key=write("client-key.pem", client.private_key_pem),
        other_ca=write("other-ca.pem", other_ca.cert_pem),
        other_key=write("other-key.pem", other.private_key_pem),
        tmpdir=base,
    )


# ---- which ssl module plays the peer ---------------------------------------

PEER_MODULES = ["pyssl", "stdlib"]


def module_named(name: str) -> Any:
    if name == "pyssl":
        return pyssl
    if stdlib_ssl is None:
        pytest.skip("this interpreter has no stdlib ssl module to compare with")
    return stdlib_ssl


@pytest.fixture(params=PEER_MODULES)
def peer(request: pytest.FixtureRequest) -> Any:
    """The ssl module on the other end: pyssl itself, or the stdlib's."""
    return module_named(request.param)


@pytest.fixture(params=PEER_MODULES)
def either(request: pytest.FixtureRequest) -> Any:
    """pyssl or the stdlib, for tests that prove pyssl does what the stdlib
    does: the same assertions must hold for both."""
    return module_named(request.param)


def server_context(module: Any, certs: CertFiles, **settings: Any) -> Any:
    ctx = module.SSLContext(module.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.server_chain)
    for name, value in settings.items():
        setattr(ctx, name, value)
    return ctx


def client_context(module: Any, certs: CertFiles, **settings: Any) -> Any:
    ctx = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.ca)
    for name, value in settings.items():
        setattr(ctx, name, value)
    return ctx


# ---- a threaded server -------------------------------------------------------


class ThreadedServer:
    """Accepts ``connections`` TCP connections on loopback and hands each
    plain socket to ``handler`` in a server thread. ``join()`` returns the
    handlers' results and re-raises the first exception one raised."""

    def __init__(self, handler: Callable[[socket.socket], Any], connections: int = 1,
                 family: int = socket.AF_INET) -> None:
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        self.listener = socket.create_server((host, 0), family=family)
        self.listener.settimeout(TIMEOUT)
        self.address = self.listener.getsockname()[:2]
        self.port = self.address[1]
        self.handler = handler
        self.connections = connections
        self.results: list[Any] = []
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            for _ in range(self.connections):
                conn, _addr = self.listener.accept()
                conn.settimeout(TIMEOUT)
                with conn:
                    try:
                        self.results.append(self.handler(conn))
                    except BaseException as exc:  # reported by join()
                        self.errors.append(exc)
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            self.listener.close()

    def join(self, timeout: float = TIMEOUT) -> list[Any]:
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError("the server thread did not finish")
        if self.errors:
            raise self.errors[0]
        return self.results

    def connect(self, timeout: float | None = TIMEOUT) -> socket.socket:
        return socket.create_connection(self.address, timeout=timeout)


@pytest.fixture
def serve() -> Any:
    """serve(handler, connections=1) starts a ThreadedServer."""
    servers: list[ThreadedServer] = []

    def start(handler: Callable[[socket.socket], Any], connections: int = 1,
              family: int = socket.AF_INET) -> ThreadedServer:
        server = ThreadedServer(handler, connections, family)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.listener.close()
        server.thread.join(TIMEOUT)


# ---- TLS connections for the socket tests -----------------------------------


@pytest.fixture
def serve_tls(serve: Any, certs: CertFiles) -> Any:
    """serve_tls(module, handler) starts a ThreadedServer that wraps its
    connection server-side with ``module``'s SSLContext (handshake done) and
    hands the SSLSocket to ``handler``."""

    def start(module: Any, handler: Callable[[Any], Any]) -> ThreadedServer:
        context = server_context(module, certs)

        def run(conn: socket.socket) -> Any:
            with context.wrap_socket(conn, server_side=True) as tls:
                return handler(tls)

        return serve(run)

    return start


@pytest.fixture
def connected_pair() -> Any:
    """Two connected TCP sockets (a, b) on loopback, closed afterwards."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        a = socket.create_connection(listener.getsockname(), timeout=TIMEOUT)
        b, _ = listener.accept()
    b.settimeout(TIMEOUT)
    yield a, b
    a.close()
    b.close()


def connect_tls(module: Any, certs: CertFiles, server: ThreadedServer,
                timeout: float | None = TIMEOUT, **wrap_settings: Any) -> Any:
    """A ``module`` client SSLSocket connected to ``server``, trusting the
    test CA; ``wrap_settings`` go to wrap_socket()."""
    raw = server.connect(timeout=timeout)
    try:
        return client_context(module, certs).wrap_socket(
            raw, server_hostname="localhost", **wrap_settings)
    except BaseException:
        raw.close()
        raise


def recv_exactly(sock: Any, size: int) -> bytes:
    """Exactly ``size`` bytes from ``sock``; EOFError if the stream ends first."""
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(min(size - len(data), 1 << 20))
        if not chunk:
            raise EOFError(f"EOF after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)


# ---- the openssl command-line programs ---------------------------------------


class OpenSSLProcess:
    """``openssl s_server`` or ``s_client`` with its output read by a thread."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [OPENSSL or "openssl", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.transcript: list[bytes] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(b"")

    def wait_for(self, text: bytes, timeout: float = TIMEOUT) -> bytes:
        """Wait for an output line containing ``text``; return that line."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                line = None
            if line is None or remaining <= 0:
                raise TimeoutError(f"no {text!r} from openssl {self.args}: {b''.join(self.transcript)!r}")
            if line == b"":
                raise EOFError(f"openssl {self.args} ended without {text!r}: {b''.join(self.transcript)!r}")
            self.transcript.append(line)
            if text in line:
                return line

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(TIMEOUT)
        # The reader meets EOF now that the process is gone; closing stdout
        # while it is still in readline() would fail it in its thread.
        self.reader.join(TIMEOUT)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl program is not installed")


@pytest.fixture
def openssl_server(certs: CertFiles) -> Any:
    """openssl_server(*args) starts ``openssl s_server`` on a free loopback
    port with the server certificate; returns (process, port)."""
    if OPENSSL is None:
        pytest.skip("the openssl program is not installed")
    processes: list[OpenSSLProcess] = []

    def start(*args: str) -> tuple[OpenSSLProcess, int]:
        proc = OpenSSLProcess([
            "s_server", "-accept", "127.0.0.1:0", "-cert", certs.server_cert,
            "-key", certs.server_key, "-naccept", "1", *args,
        ])
        processes.append(proc)
        line = proc.wait_for(b"ACCEPT")
        return proc, int(line.rsplit(b":", 1)[1])

    yield start
    for proc in processes:
        proc.stop()


@pytest.fixture
def openssl_client(certs: CertFiles) -> Any:
    """openssl_client(port, *args) starts ``openssl s_client`` against a
    loopback port, trusting the test CA."""
    if OPENSSL is None:
        pytest.skip("the openssl program is not installed")
    processes: list[OpenSSLProcess] = []

    def start(port: int, *args: str) -> OpenSSLProcess:
        proc = OpenSSLProcess([
            "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", certs.ca,
            "-servername", "localhost", *args,
        ])
        processes.append(proc)
        return proc

    yield start
    for proc in processes:
        proc.stop()


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"pyssl on {pyssl.OPENSSL_VERSION}"]
    if stdlib_ssl is not None:
        lines.append(f"stdlib ssl on {stdlib_ssl.OPENSSL_VERSION}")
    else:
        lines.append("stdlib ssl: not available in this interpreter")
    if OPENSSL:
        version = subprocess.run([OPENSSL, "version"], capture_output=True, text=True).stdout.strip()
        lines.append(f"openssl program: {version}")
    return lines

