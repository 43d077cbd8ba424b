"""Shared fixtures: certificates made for this test session, and real TLS
peers on loopback — threaded servers (pyssl or the stdlib ``ssl``) and the
``openssl s_server`` / ``s_client`` programs. What they are made of lives
beside this file: ``cert_files.py``, ``peers.py``, ``openssl_cli.py``,
``ssl_modules.py``."""

from __future__ import annotations

import functools
import socket
import sys
from collections.abc import Callable
from typing import Any

import pytest
import trustme
from cert_files import (
    CertFiles,
    ChainFiles,
    certificate_maker,
    cpython_test_dirs,
    find_cpython_test_certificate,
    issue_cert_files,
    issue_chain_files,
    issue_second_server,
)
from client_setups import SETUPS as CLIENT_SETUPS
from openssl_cli import NO_OPENSSL, OPENSSL, OpenSSLPeers, openssl_version
from peers import TIMEOUT, ThreadedServer, handshake_outcomes, server_context
from ssl_modules import (
    NO_STDLIB_SSL,
    PEER_MODULES,
    STDLIB_SSL,
    module_named,
    same_openssl,
)

import pyssl


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"pyssl on {pyssl.OPENSSL_VERSION}"]
    if STDLIB_SSL is not None:
        lines.append(f"stdlib ssl on {STDLIB_SSL.OPENSSL_VERSION}")
    else:
        lines.append("stdlib ssl: not available in this interpreter")
    if OPENSSL:
        lines.append(f"openssl program: {openssl_version()}")
    return lines


# ---- certificates ----------------------------------------------------------------


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return issue_cert_files(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def rsa_certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    """The same set of certificates with RSA keys."""
    return issue_cert_files(tmp_path_factory.mktemp("rsa-certs"), trustme.KeyType.RSA)


@pytest.fixture(scope="session")
def second_server(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """Another certificate for localhost (common name second.example), from
    another CA: (chain file, certificate file, CA file)."""
    return issue_second_server(tmp_path_factory.mktemp("second"))


@pytest.fixture(scope="session")
def chain_certs(tmp_path_factory: pytest.TempPathFactory) -> ChainFiles:
    return issue_chain_files(tmp_path_factory.mktemp("chain"))


@pytest.fixture(scope="session")
def certificate_key():
    """A key pair made for this session, which signs every made certificate."""
    ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def make_certificate(tmp_path_factory, certificate_key):
    """Build a self-issued certificate with ``cryptography`` and return the
    path of its PEM file (``cert_files.certificate_maker``)."""
    return certificate_maker(
        tmp_path_factory.mktemp("made-certificates"), certificate_key
    )


@pytest.fixture(scope="session")
def cpython_test_certificate():
    """Find one of the certificates CPython's test suite ships, by file name."""
    return functools.partial(find_cpython_test_certificate, cpython_test_dirs())


@pytest.fixture
def default_ca_file(monkeypatch: pytest.MonkeyPatch) -> Any:
    """default_ca_file(path) makes ``path`` the CA file OpenSSL loads as the
    system's (SSL_CERT_FILE, read whenever the default paths are loaded)."""
    return lambda path: monkeypatch.setenv("SSL_CERT_FILE", path)


# ---- which ssl module plays the peer ---------------------------------------


@pytest.fixture(params=PEER_MODULES)
def peer(request: pytest.FixtureRequest) -> Any:
    """The ssl module on the other end: pyssl itself, or the stdlib's."""
    return module_named(request.param)


@pytest.fixture(params=PEER_MODULES)
def either(request: pytest.FixtureRequest) -> Any:
    """pyssl or the stdlib, for tests that prove pyssl does what the stdlib
    does: the same assertions must hold for both."""
    return module_named(request.param)


@pytest.fixture
def stdlib() -> Any:
    """The stdlib ssl module, for tests that compare pyssl's results with it."""
    return module_named("stdlib")


@pytest.fixture(scope="session")
def stdlib_ssl() -> Any:
    """The stdlib ``ssl`` module; the test is skipped where it is missing."""
    return module_named("stdlib")


@pytest.fixture
def stdlib_on_the_same_openssl(stdlib: Any) -> Any:
    """The stdlib ssl module, for comparing what OpenSSL itself produces;
    the test is skipped where the stdlib links another OpenSSL release."""
    if not same_openssl(stdlib):
        pytest.skip(
            f"the stdlib ssl links {stdlib.OPENSSL_VERSION}, pyssl {pyssl.OPENSSL_VERSION}: "
            "what OpenSSL produces differs between releases"
        )
    return stdlib


# ---- threaded servers and connections on loopback -------------------------------


@pytest.fixture
def serve() -> Any:
    """serve(handler, connections=1) starts a ThreadedServer."""
    servers: list[ThreadedServer] = []

    def start(
        handler: Callable[[socket.socket], Any],
        connections: int = 1,
        family: int = socket.AF_INET,
    ) -> ThreadedServer:
        server = ThreadedServer(handler, connections, family)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.listener.close()
        server.thread.join(TIMEOUT)


@pytest.fixture
def serve_tls(serve: Any, certs: CertFiles) -> Any:
    """serve_tls(module, handler, **settings) starts a ThreadedServer that
    wraps its connection server-side with ``module``'s SSLContext (handshake
    done; ``settings`` are set on the context) and hands the SSLSocket to
    ``handler``."""

    def start(
        module: Any, handler: Callable[[Any], Any], **settings: Any
    ) -> ThreadedServer:
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


@pytest.fixture
def handshake(serve: Any) -> Any:
    """handshake(server_ctx, client_ctx, server_hostname="localhost",
    on_server=..., on_client=...) connects a client to a server on loopback
    and returns (client, server): what on_client(tls) and on_server(tls)
    returned (the negotiated version unless given), or the exception the
    handshake raised on that side."""
    return functools.partial(handshake_outcomes, serve)


@pytest.fixture
def verify_with(handshake: Any, certs: CertFiles) -> Any:
    """verify_with(client_ctx, server_hostname="localhost") runs a handshake
    of ``client_ctx`` with a pyssl server presenting the test server
    certificate; returns the client's outcome (the version or the exception)."""

    def run(ctx: Any, server_hostname: str = "localhost") -> Any:
        client, _server = handshake(
            server_context(pyssl, certs), ctx, server_hostname=server_hostname
        )
        return client

    return run


# ---- the openssl command-line programs ---------------------------------------


@pytest.fixture
def openssl_peers(certs: CertFiles) -> Any:
    """The ``openssl`` processes of the test, stopped after it."""
    if OPENSSL is None:
        pytest.skip(NO_OPENSSL)
    peers = OpenSSLPeers(certs)
    yield peers
    peers.stop()


@pytest.fixture
def openssl_server(openssl_peers: OpenSSLPeers) -> Any:
    """openssl_server(*args) starts ``openssl s_server`` on a free loopback
    port with the server certificate; returns (process, port)."""
    return openssl_peers.s_server


@pytest.fixture
def openssl_client(openssl_peers: OpenSSLPeers) -> Any:
    """openssl_client(port, *args) starts ``openssl s_client`` against a
    loopback port, trusting the test CA."""
    return openssl_peers.s_client


# ---- sys.unraisablehook --------------------------------------------------------


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The exceptions reported through ``sys.unraisablehook`` during the test
    (whichever thread reported them), as UnraisableHookArgs."""
    reported: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    return reported


# ---- the set-ups of the third-party client tests ---------------------------------
# (client_setups.py names them and says what each expects.)


@pytest.fixture(params=list(CLIENT_SETUPS))
def client_setup(request: pytest.FixtureRequest) -> str:
    """The SETUP words a client driver runs a scenario with."""
    if request.param in ("stdlib-alone", "stdlib-present") and STDLIB_SSL is None:
        pytest.skip(NO_STDLIB_SSL)
    return CLIENT_SETUPS[request.param]
