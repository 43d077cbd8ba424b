"""Shared fixtures: certificates made for this test session, and real TLS
peers on loopback — threaded servers (pyssl or the stdlib ``ssl``) and the
``openssl s_server`` / ``s_client`` programs."""

from __future__ import annotations

import base64
import datetime
import glob
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from client_setups import SETUPS as CLIENT_SETUPS

import pyssl

try:
    import ssl as STDLIB_SSL
except ImportError:  # an interpreter built without ssl, or _ssl blocked
    STDLIB_SSL = None  # type: ignore[assignment]
if STDLIB_SSL is pyssl:  # injected at start-up (PYSSL_INJECT=1): no stdlib to compare with
    STDLIB_SSL = None  # type: ignore[assignment]
NO_STDLIB_SSL = "no stdlib ssl in this interpreter (built without it, or pyssl injected in its place)"
needs_stdlib_ssl = pytest.mark.skipif(STDLIB_SSL is None, reason=NO_STDLIB_SSL)

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


def der_certificate(pem_text: str) -> bytes:
    """The DER bytes of the first PEM certificate in ``pem_text``."""
    body = pem_text.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return base64.b64decode(body)


# ---- which ssl module plays the peer ---------------------------------------

PEER_MODULES = ["pyssl", "stdlib"]


def module_named(name: str) -> Any:
    if name == "pyssl":
        return pyssl
    if STDLIB_SSL is None:
        pytest.skip(NO_STDLIB_SSL)
    return STDLIB_SSL


def module_offering(name: str, owner: str, attribute: str, why_missing: str) -> Any:
    """module_named(name), skipping the test where ``owner`` (a class of the
    module) lacks ``attribute``: an API newer than this Python's stdlib."""
    module = module_named(name)
    if not hasattr(getattr(module, owner), attribute):
        pytest.skip(f"this Python's stdlib ssl has no {why_missing}")
    return module


# ---- what the linked OpenSSL decides --------------------------------------------
# pyssl passes on what its OpenSSL reports, and releases differ in some of it:
# the reason a record-layer failure ends with, alerts, default groups, how
# strictly times are parsed, the order of a certificate store. Tests expect
# what the module's own release does, and compare such output with the
# stdlib's only where both link the same release.


def openssl_at_least(module: Any, *version: int) -> bool:
    """Whether ``module`` (pyssl or the stdlib's ssl) links OpenSSL
    ``version`` or newer."""
    return tuple(module.OPENSSL_VERSION_INFO[: len(version)]) >= version


def reason_since(module: Any, reason: str, *version: int) -> str | None:
    """``reason``, a reason code new in OpenSSL ``version``, as ``module``
    reports it: by name if the module was built against headers that have
    it (``_OPENSSL_API_VERSION``), else None. The stdlib built against
    older headers can run on a newer libssl: the one a pyssl built against
    it loaded into the process first, or one from LD_LIBRARY_PATH."""
    return reason if tuple(module._OPENSSL_API_VERSION[: len(version)]) >= version else None


def same_openssl(module: Any) -> bool:
    """Whether ``module`` links the same OpenSSL release as pyssl."""
    return module.OPENSSL_VERSION_INFO == pyssl.OPENSSL_VERSION_INFO


@pytest.fixture(params=PEER_MODULES)
def peer(request: pytest.FixtureRequest) -> Any:
    """The ssl module on the other end: pyssl itself, or the stdlib's."""
    return module_named(request.param)


@pytest.fixture(params=PEER_MODULES)
def either(request: pytest.FixtureRequest) -> Any:
    """pyssl or the stdlib, for tests that prove pyssl does what the stdlib
    does: the same assertions must hold for both."""
    return module_named(request.param)


def der_of(pem_path: str) -> bytes:
    """The DER bytes of the (first) certificate in a PEM file."""
    pem = Path(pem_path).read_text()
    body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return base64.b64decode(body)


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
    """serve_tls(module, handler, **settings) starts a ThreadedServer that
    wraps its connection server-side with ``module``'s SSLContext (handshake
    done; ``settings`` are set on the context) and hands the SSLSocket to
    ``handler``."""

    def start(module: Any, handler: Callable[[Any], Any], **settings: Any) -> ThreadedServer:
        context = server_context(module, certs, **settings)

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
    if STDLIB_SSL is not None:
        lines.append(f"stdlib ssl on {STDLIB_SSL.OPENSSL_VERSION}")
    else:
        lines.append("stdlib ssl: not available in this interpreter")
    if OPENSSL:
        version = subprocess.run([OPENSSL, "version"], capture_output=True, text=True).stdout.strip()
        lines.append(f"openssl program: {version}")
    return lines


# ---- certificates built field by field (certificate decoding tests) -------


@pytest.fixture(scope="session")
def stdlib_ssl() -> Any:
    """The stdlib ``ssl`` module; the test is skipped where it is missing."""
    return module_named("stdlib")


def _cpython_test_dirs() -> list[str]:
    # The running interpreter's own test package first, then every
    # interpreter pyenv knows about.
    prefixes = [sys.base_prefix]
    try:
        root = subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, check=True
        ).stdout.strip()
        prefixes += sorted(glob.glob(os.path.join(root, "versions", "*")))
    except (OSError, subprocess.CalledProcessError):
        pass
    dirs = []
    for prefix in prefixes:
        for test_dir in sorted(
            glob.glob(os.path.join(prefix, "lib", "python3.*", "test"))
        ):
            # 3.12 moved the certificates into test/certdata.
            dirs += [os.path.join(test_dir, "certdata"), test_dir]
    return [d for d in dirs if os.path.isdir(d)]


@pytest.fixture(scope="session")
def cpython_test_certificate():
    """Find one of the certificates CPython's test suite ships, by file name."""
    dirs = _cpython_test_dirs()

    def find(name: str) -> str:
        for directory in dirs:
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                return path
        pytest.skip(f"CPython's test certificate {name} is not installed")

    return find


@pytest.fixture(scope="session")
def certificate_key():
    """A key pair made for this session, which signs every made certificate."""
    ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def make_certificate(tmp_path_factory, certificate_key):
    """Build a self-issued certificate with ``cryptography`` and return the
    path of its PEM file.

    ``subject`` is a ``cryptography.x509.Name`` or a common name; the issuer
    defaults to the subject; ``extensions`` is a list of extension values.
    """
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    directory = tmp_path_factory.mktemp("made-certificates")
    counter = iter(range(1_000_000))

    def make(
        subject="made.example",
        issuer=None,
        serial: int = 0x1234,
        extensions=(),
        not_before=datetime.datetime(2020, 1, 2, 3, 4, 5),
        not_after=datetime.datetime(2040, 6, 7, 8, 9, 10),
    ) -> str:
        if isinstance(subject, str):
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer if issuer is not None else subject)
            .public_key(certificate_key.public_key())
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
        )
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        certificate = builder.sign(certificate_key, hashes.SHA256())
        path = directory / f"cert-{next(counter)}.pem"
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return str(path)

    return make

# ---- one complete conversation, inspected from both ends -------------------


def converse(serve: Any, server_ctx: Any, client_ctx: Any, probe: Callable[[Any], Any],
             server_hostname: str | None = "localhost", probe_before_handshake: bool = False,
             ) -> tuple[Any, Any]:
    """Connect a client wrapped by ``client_ctx`` to a server thread wrapped by
    ``server_ctx``, exchange one byte each way (so that both ends have
    finished the handshake, and neither leaves unread data behind), and
    return ``(probe(server), probe(client))``, each taken on its own
    SSLSocket while the connection is open.

    With ``probe_before_handshake`` both ends wrap with
    ``do_handshake_on_connect=False`` and each end's result is the pair
    (probe before the handshake, probe after it)."""

    def run(tls: Any, asks: bool) -> Any:
        before = None
        if probe_before_handshake:
            before = probe(tls)
            tls.do_handshake()
        if asks:
            tls.sendall(b"?")
            assert tls.recv(1) == b"!"
        else:
            assert tls.recv(1) == b"?"
            tls.sendall(b"!")
        after = probe(tls)
        return (before, after) if probe_before_handshake else after

    on_connect = not probe_before_handshake

    def handler(conn: socket.socket) -> Any:
        with server_ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=on_connect) as tls:
            return run(tls, asks=False)

    server = serve(handler)
    with server.connect() as raw, client_ctx.wrap_socket(
        raw, server_hostname=server_hostname, do_handshake_on_connect=on_connect
    ) as tls:
        client_value = run(tls, asks=True)
    [server_value] = server.join()
    return server_value, client_value

# ---- comparing pyssl with the stdlib -----------------------------------------


@pytest.fixture
def stdlib() -> Any:
    """The stdlib ssl module, for tests that compare pyssl's results with it."""
    return module_named("stdlib")


@pytest.fixture
def stdlib_on_the_same_openssl(stdlib: Any) -> Any:
    """The stdlib ssl module, for comparing what OpenSSL itself produces;
    the test is skipped where the stdlib links another OpenSSL release."""
    if not same_openssl(stdlib):
        pytest.skip(f"the stdlib ssl links {stdlib.OPENSSL_VERSION}, pyssl {pyssl.OPENSSL_VERSION}: "
                    "what OpenSSL produces differs between releases")
    return stdlib


def close_what_wrap_socket_left_open(error: BaseException) -> None:
    """Close the SSLSocket that the stdlib's wrap_socket() made, and left
    open, before raising ``error``.

    Until CPython 3.13, SSLSocket._create closes the socket it has taken
    the descriptor into on OSError and ValueError only (CPython
    gh-113280): when server_hostname is refused with another error, the
    caller, who never got that socket, has no other way to close it.
    Where the stdlib did close it, closing it again does nothing."""
    if STDLIB_SSL is None:
        return
    for frame, _line in traceback.walk_tb(error.__traceback__):
        made = frame.f_locals.get("self")
        if frame.f_code.co_name == "_create" and isinstance(made, STDLIB_SSL.SSLSocket):
            made.close()


# Where an error was raised ("(_ssl.c:1006)", "(pyssl:do_handshake)") is no
# part of the behaviour being compared.
_ERROR_LOCATION = re.compile(r" \((?:_ssl\.c|pyssl):[^)]*\)$")


def outcome(action: Callable[[Any], Any], module: Any) -> tuple[Any, ...]:
    """What ``action(module)`` does, comparable between pyssl and the
    stdlib: ("returned", repr of the result) or ("raised", exception type
    name, args), then the warnings it gave as (category, message, file,
    line)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result: tuple[Any, ...] = ("returned", repr(action(module)))
        except Exception as exc:
            args = tuple(_ERROR_LOCATION.sub("", a) if isinstance(a, str) else a for a in exc.args)
            result = ("raised", type(exc).__name__, args)
    given = [(w.category.__name__, str(w.message), w.filename, w.lineno) for w in caught]
    return (*result, given)


def _negotiated_version(tls: Any) -> Any:
    return tls.version()


@pytest.fixture
def handshake(serve: Any) -> Any:
    """handshake(server_ctx, client_ctx, server_hostname="localhost",
    on_server=..., on_client=...) connects a client to a server on loopback
    and returns (client, server): what on_client(tls) and on_server(tls)
    returned (the negotiated version unless given), or the exception the
    handshake raised on that side."""

    def run(server_ctx: Any, client_ctx: Any, server_hostname: Any = "localhost",
            on_server: Callable[[Any], Any] = _negotiated_version,
            on_client: Callable[[Any], Any] = _negotiated_version) -> tuple[Any, Any]:
        def handler(conn: socket.socket) -> Any:
            try:
                tls = server_ctx.wrap_socket(conn, server_side=True)
            except Exception as exc:
                return exc
            with tls:
                result = on_server(tls)
                tls.sendall(b"!")  # the client inspects its side after this
                try:
                    tls.recv(1)  # until the client closes
                except OSError:
                    pass
                return result

        server = serve(handler)
        with server.connect() as raw:
            try:
                tls = client_ctx.wrap_socket(raw, server_hostname=server_hostname)
            except Exception as exc:
                client = exc
            else:
                with tls:
                    tls.recv(1)
                    client = on_client(tls)
        [server_result] = server.join()
        return client, server_result

    return run


@pytest.fixture
def verify_with(handshake: Any, certs: CertFiles) -> Any:
    """verify_with(client_ctx, server_hostname="localhost") runs a handshake
    of ``client_ctx`` with a pyssl server presenting the test server
    certificate; returns the client's outcome (the version or the exception)."""

    def run(ctx: Any, server_hostname: str = "localhost") -> Any:
        client, _server = handshake(server_context(pyssl, certs), ctx, server_hostname=server_hostname)
        return client

    return run


@pytest.fixture
def default_ca_file(monkeypatch: pytest.MonkeyPatch) -> Any:
    """default_ca_file(path) makes ``path`` the CA file OpenSSL loads as the
    system's (SSL_CERT_FILE, read whenever the default paths are loaded)."""
    return lambda path: monkeypatch.setenv("SSL_CERT_FILE", path)


@pytest.fixture(scope="session")
def second_server(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """Another certificate for localhost (common name second.example), from
    another CA: (chain file, certificate file, CA file)."""
    base = tmp_path_factory.mktemp("second")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", common_name="second.example")
    paths = [base / "chain.pem", base / "cert.pem", base / "ca.pem"]
    cert.private_key_and_cert_chain_pem.write_to_path(str(paths[0]))
    cert.cert_chain_pems[0].write_to_path(str(paths[1]))
    ca.cert_pem.write_to_path(str(paths[2]))
    return (str(paths[0]), str(paths[1]), str(paths[2]))


# ---- connections over memory BIOs ----------------------------------------------


def module_of(ctx: Any) -> Any:
    """The ssl module (pyssl or the stdlib's) an SSLContext belongs to."""
    return pyssl if isinstance(ctx, pyssl.SSLContext) else STDLIB_SSL


class BioPair:
    """A client and a server SSLObject (``wrap_bio``) whose MemoryBIOs are
    joined in memory; ``handshake()`` and ``send()`` move the bytes."""

    def __init__(self, client_ctx: Any, server_ctx: Any, server_hostname: Any = "localhost",
                 session: Any = None) -> None:
        client_module, server_module = module_of(client_ctx), module_of(server_ctx)
        self._client_bios = (client_module.MemoryBIO(), client_module.MemoryBIO())
        self._server_bios = (server_module.MemoryBIO(), server_module.MemoryBIO())
        self.client = client_ctx.wrap_bio(*self._client_bios, server_hostname=server_hostname,
                                          session=session)
        self.server = server_ctx.wrap_bio(*self._server_bios, server_side=True)

    def _move(self) -> bool:
        """Deliver what each side wrote to the other; whether anything moved."""
        moved = False
        for (_, outgoing), (incoming, _) in ((self._client_bios, self._server_bios),
                                             (self._server_bios, self._client_bios)):
            data = outgoing.read()
            if data:
                incoming.write(data)
                moved = True
        return moved

    def _run(self, steps: dict[Any, Callable[[], Any]]) -> dict[Any, Any]:
        """Call each side's step until it stops asking for input; the
        result of each side's last call."""
        results: dict[Any, Any] = {}
        while len(results) < len(steps):
            for side, step in steps.items():
                if side in results:
                    continue
                try:
                    results[side] = step()
                except (pyssl.SSLWantReadError, *_stdlib_want_read()):
                    pass
            if not self._move() and len(results) < len(steps):
                raise RuntimeError("the TLS conversation stalled")
        self._move()
        return results

    def handshake(self) -> BioPair:
        self._run({self.client: self.client.do_handshake, self.server: self.server.do_handshake})
        return self

    def send(self, data: bytes, to_server: bool = True) -> bytes:
        """Write ``data`` on one side and return what the other reads."""
        writer, reader = (self.client, self.server) if to_server else (self.server, self.client)
        writer.write(data)
        self._move()
        return self._run({reader: lambda: reader.read(len(data))})[reader]


def _stdlib_want_read() -> tuple[type[BaseException], ...]:
    return () if STDLIB_SSL is None else (STDLIB_SSL.SSLWantReadError,)


# ---- sys.unraisablehook --------------------------------------------------------


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The exceptions reported through ``sys.unraisablehook`` during the test
    (whichever thread reported them), as UnraisableHookArgs."""
    reported: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    return reported


# ---- a chain with an intermediate CA ---------------------------------------------


@dataclass(frozen=True)
class ChainFiles:
    """A server certificate for localhost issued by an intermediate CA."""

    root: str  # the root CA, which clients trust
    chain: str  # the server's key, certificate and the intermediate, PEM
    leaf: str
    intermediate: str
    key: str

    def ders(self) -> list[bytes]:
        """[root, intermediate, leaf] in DER."""
        return [der_of(path) for path in (self.root, self.intermediate, self.leaf)]


@pytest.fixture(scope="session")
def chain_certs(tmp_path_factory: pytest.TempPathFactory) -> ChainFiles:
    base = tmp_path_factory.mktemp("chain")
    root = trustme.CA()
    intermediate = root.create_child_ca()
    leaf = intermediate.issue_cert("localhost")
    files = ChainFiles(*(str(base / name) for name in (
        "root.pem", "chain.pem", "leaf.pem", "intermediate.pem", "key.pem")))
    root.cert_pem.write_to_path(files.root)
    leaf.private_key_and_cert_chain_pem.write_to_path(files.chain)
    leaf.cert_chain_pems[0].write_to_path(files.leaf)
    intermediate.cert_pem.write_to_path(files.intermediate)
    leaf.private_key_pem.write_to_path(files.key)
    return files


# ---- the set-ups of the third-party client tests ---------------------------------
# (client_setups.py names them and says what each expects.)


@pytest.fixture(params=list(CLIENT_SETUPS))
def client_setup(request: pytest.FixtureRequest) -> str:
    """The SETUP words a client driver runs a scenario with."""
    if request.param in ("stdlib-alone", "stdlib-present") and STDLIB_SSL is None:
        pytest.skip(NO_STDLIB_SSL)
    return CLIENT_SETUPS[request.param]
