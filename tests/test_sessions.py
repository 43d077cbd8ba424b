"""TLS session resumption: SSLSession, SSLSocket/SSLObject.session and
.session_reused, SSLContext.session_stats(), and the session argument of
wrap_socket() and wrap_bio().

A TLS 1.3 server sends its session tickets after the handshake, so a client
has a resumable session only once it has read something. The stdlib
documents all of this, so the checks run on both modules and against the
openssl programs."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any

import pytest
from openssl_cli import OpenSSLProcess, needs_openssl
from peers import BioPair, client_context, server_context

import pyssl

VERSIONS = ["TLSv1_2", "TLSv1_3"]


def limited(ctx, module, version):
    ctx.maximum_version = getattr(module.TLSVersion, version)
    return ctx


@dataclass
class Visit:
    """What one connection left on each side."""

    session: Any  # the client's session, taken after reading
    reused: bool  # the client's session_reused
    server_reused: bool
    server_session: Any


def visit(serve, server_ctx, client_ctx, session=None, shutdown=False):
    """Connect once (one byte each way, so that TLS 1.3 tickets have
    arrived) and close both ends, with a TLS shutdown or without."""

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1) == b"?"
            tls.sendall(b"!")
            result = tls.session_reused, tls.session
            if shutdown:
                tls.unwrap()
            return result

    server = serve(handler)
    with (
        server.connect() as raw,
        client_ctx.wrap_socket(
            raw, server_hostname="localhost", session=session
        ) as tls,
    ):
        tls.sendall(b"?")
        assert tls.recv(1) == b"!"
        client = tls.session, tls.session_reused
        if shutdown:
            tls.unwrap()
    [(server_reused, server_session)] = server.join()
    return Visit(*client, server_reused, server_session)


def visit_handler(server_ctx, conn):
    """The server end of a visit() made by hand: whether it resumed."""
    with server_ctx.wrap_socket(conn, server_side=True) as tls:
        assert tls.recv(1) == b"?"
        tls.sendall(b"!")
        return tls.session_reused


@pytest.fixture
def contexts(certs, either):
    """make(version) -> a (server, client) pair of contexts of one module."""
    return lambda version: (
        server_context(either, certs),
        limited(client_context(either, certs), either, version),
    )


# ---- SSLSession itself -----------------------------------------------------------


def test_no_public_constructor(either):
    cls = either.SSLSession
    with pytest.raises(TypeError) as info:
        cls()
    assert (
        str(info.value) == f"cannot create '{cls.__module__}.{cls.__name__}' instances"
    )


def test_not_subclassable(either):
    cls = either.SSLSession
    with pytest.raises(TypeError) as info:
        type("Session", (cls,), {})
    assert (
        str(info.value)
        == f"type '{cls.__module__}.{cls.__name__}' is not an acceptable base type"
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_attributes(serve, contexts, either, version):
    before = int(time.time())
    session = visit(serve, *contexts(version)).session
    after = time.time()
    assert type(session) is either.SSLSession
    assert type(session.id) is bytes
    assert len(session.id) == 32
    assert type(session.time) is int
    # OpenSSL stamps the session with time(NULL), which glibc reads from the
    # coarse clock: a few milliseconds behind time.time(), so across a second
    # boundary it can still say the second before.
    assert before - 1 <= session.time <= after
    # OpenSSL's default lifetime (seconds) for sessions and tickets.
    assert (session.timeout, session.ticket_lifetime_hint) == (7200, 7200)
    assert session.has_ticket is True


def test_a_server_side_tls_1_2_session_has_no_ticket(serve, contexts):
    # The server issued a ticket and keeps nothing: no id, no ticket.
    session = visit(serve, *contexts("TLSv1_2")).server_session
    assert (session.id, session.has_ticket) == (b"", False)


def test_attributes_are_read_only(serve, contexts):
    session = visit(serve, *contexts("TLSv1_2")).session
    for name in ("id", "time", "timeout", "ticket_lifetime_hint", "has_ticket"):
        with pytest.raises(AttributeError):
            setattr(session, name, getattr(session, name))


def test_equality(serve, contexts):
    server_ctx, client_ctx = contexts("TLSv1_2")
    first = visit(serve, server_ctx, client_ctx)
    resumed = visit(serve, server_ctx, client_ctx, session=first.session)
    other = visit(serve, server_ctx, client_ctx)
    # Sessions are equal when their ids are.
    assert resumed.session == first.session
    assert resumed.session is not first.session
    assert not resumed.session != first.session
    assert other.session != first.session
    assert not other.session == first.session
    assert first.session != "session"
    with pytest.raises(TypeError):
        first.session < resumed.session  # noqa: B015
    with pytest.raises(TypeError):
        hash(first.session)


def test_each_read_is_a_new_equal_object(serve, certs, either):
    server_ctx, client_ctx = (
        server_context(either, certs),
        client_context(either, certs),
    )

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"!")
            tls.recv(1)

    server = serve(handler)
    with (
        server.connect() as raw,
        client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.recv(1)
        one, two = tls.session, tls.session
        assert one == two
        assert one is not two
    server.join()


# ---- resumption ---------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_resumption(serve, certs, either, peer, version):
    server_ctx = server_context(peer, certs)
    client_ctx = limited(client_context(either, certs), either, version)
    first = visit(serve, server_ctx, client_ctx)
    assert (first.reused, first.server_reused) == (False, False)
    again = visit(serve, server_ctx, client_ctx, session=first.session)
    assert (again.reused, again.server_reused) == (True, True)
    fresh = visit(serve, server_ctx, client_ctx)
    assert (fresh.reused, fresh.server_reused) == (False, False)
    if version == "TLSv1_2":
        assert again.session.id == first.session.id
    else:
        # Each TLS 1.3 resumption brings new tickets, new sessions.
        assert again.session.id != first.session.id
    assert fresh.session.id != first.session.id


@pytest.mark.parametrize("version", VERSIONS)
def test_a_session_nothing_verified_is_not_offered_once_verification_is_required(
    serve, certs, version
):
    """pyssl alone: the stdlib resumes the session, and so skips the
    verification the context now requires."""
    server_ctx = server_context(pyssl, certs)
    client_ctx = limited(pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT), pyssl, version)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = pyssl.CERT_NONE  # and no CA: nothing verified
    unverified = visit(serve, server_ctx, client_ctx).session
    client_ctx.verify_mode = pyssl.CERT_REQUIRED
    with pytest.raises(pyssl.SSLCertVerificationError):
        visit(serve, server_ctx, client_ctx, session=unverified)
    # Verified now: a session the next connections resume.
    client_ctx.load_verify_locations(certs.ca)
    verified = visit(serve, server_ctx, client_ctx, session=unverified)
    assert verified.reused is False
    assert visit(serve, server_ctx, client_ctx, session=verified.session).reused is True


@pytest.mark.parametrize("version", VERSIONS)
def test_a_session_no_host_name_was_checked_for_is_not_offered_to_a_check(
    serve, certs, version
):
    server_ctx = server_context(pyssl, certs)
    client_ctx = limited(client_context(pyssl, certs), pyssl, version)
    client_ctx.check_hostname = False  # the chain verified, no host name checked
    session = visit(serve, server_ctx, client_ctx).session
    client_ctx.check_hostname = True
    checked = visit(serve, server_ctx, client_ctx, session=session)
    assert checked.reused is False
    assert visit(serve, server_ctx, client_ctx, session=checked.session).reused is True


@pytest.mark.parametrize("version", VERSIONS)
def test_a_server_that_now_requires_a_certificate_resumes_no_session_without(
    serve, certs, version
):
    """pyssl alone: a stdlib server resumes the session, and so accepts a
    client without the certificate it now requires."""
    server_ctx = server_context(pyssl, certs)
    client_ctx = limited(client_context(pyssl, certs), pyssl, version)
    session = visit(serve, server_ctx, client_ctx).session
    server_ctx.verify_mode = pyssl.CERT_REQUIRED
    server_ctx.load_verify_locations(certs.ca)
    outcomes = []

    def handler(conn):
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                outcomes.append(("resumed", tls.session_reused))
        except pyssl.SSLError as exc:
            outcomes.append(exc.reason)

    server = serve(handler)
    with server.connect() as raw:
        try:
            # A TLS 1.3 client learns of the refusal when it reads.
            with client_ctx.wrap_socket(
                raw, server_hostname="localhost", session=session
            ) as tls:
                tls.recv(1)
        except pyssl.SSLError:
            pass
    server.join()
    assert outcomes == ["PEER_DID_NOT_RETURN_A_CERTIFICATE"]
    # Made with the client's certificate, a session resumes.
    client_ctx.load_cert_chain(certs.client_chain)
    fresh = visit(serve, server_ctx, client_ctx)
    assert visit(serve, server_ctx, client_ctx, session=fresh.session).reused is True


@pytest.mark.parametrize("version", VERSIONS)
def test_a_session_survives_connections_closed_without_shutdown(
    serve, contexts, version
):
    # Every visit() ends without close_notify, which OpenSSL treats as a
    # reason to drop a session; the one taken from the first connection
    # still resumes each later one.
    server_ctx, client_ctx = contexts(version)
    session = visit(serve, server_ctx, client_ctx).session
    assert [
        visit(serve, server_ctx, client_ctx, session=session).reused for _ in range(3)
    ] == [True] * 3


def test_a_tls_1_3_session_before_the_tickets_does_not_resume(serve, contexts):
    server_ctx, client_ctx = contexts("TLSv1_3")

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1) == b"?"
            tls.sendall(b"!")

    server = serve(handler)
    with (
        server.connect() as raw,
        client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        early = tls.session  # the tickets are still unread
        tls.sendall(b"?")
        assert tls.recv(1) == b"!"
    server.join()
    assert (early.id, early.has_ticket, early.ticket_lifetime_hint) == (b"", False, 0)
    assert visit(serve, server_ctx, client_ctx, session=early).reused is False


@pytest.mark.parametrize("version", VERSIONS)
def test_session_attribute_of_the_socket_before_connecting(serve, contexts, version):
    server_ctx, client_ctx = contexts(version)
    session = visit(serve, server_ctx, client_ctx).session
    server = serve(lambda conn: visit_handler(server_ctx, conn))
    with client_ctx.wrap_socket(socket.socket(), server_hostname="localhost") as tls:
        assert (tls.session, tls.session_reused) == (None, None)
        tls.session = session  # kept until the connection exists
        assert tls.session is None
        tls.connect(server.address)
        tls.sendall(b"?")
        assert tls.recv(1) == b"!"
        assert tls.session_reused is True
        if version == "TLSv1_2":
            assert tls.session == session
    assert server.join() == [True]


@pytest.mark.parametrize("version", VERSIONS)
def test_session_set_on_a_connected_socket_before_the_handshake(
    serve, contexts, version
):
    server_ctx, client_ctx = contexts(version)
    session = visit(serve, server_ctx, client_ctx).session
    server = serve(lambda conn: visit_handler(server_ctx, conn))
    with (
        server.connect() as raw,
        client_ctx.wrap_socket(
            raw, server_hostname="localhost", do_handshake_on_connect=False
        ) as tls,
    ):
        assert tls.session is None
        tls.session = session
        assert tls.session == session  # the session the handshake will offer
        assert tls.session_reused is False
        tls.do_handshake()
        tls.sendall(b"?")
        assert tls.recv(1) == b"!"
        assert tls.session_reused is True
    assert server.join() == [True]


@pytest.mark.parametrize("version", VERSIONS)
def test_wrap_bio_with_a_session(certs, either, peer, version):
    server_ctx = server_context(peer, certs)
    client_ctx = limited(client_context(either, certs), either, version)
    first = BioPair(client_ctx, server_ctx).handshake()
    assert first.client.session_reused is False
    assert first.send(b"!", to_server=False) == b"!"  # the client reads the tickets
    session = first.client.session
    again = BioPair(client_ctx, server_ctx, session=session).handshake()
    assert (again.client.session_reused, again.server.session_reused) == (True, True)


def test_a_bio_session_resumes_a_socket_connection(serve, certs, either):
    server_ctx, client_ctx = (
        server_context(either, certs),
        client_context(either, certs),
    )
    pair = BioPair(client_ctx, server_ctx).handshake()
    pair.send(b"!", to_server=False)
    assert (
        visit(serve, server_ctx, client_ctx, session=pair.client.session).reused is True
    )


# ---- session_stats() -------------------------------------------------------------------

STAT_NAMES = [
    "number",
    "connect",
    "connect_good",
    "connect_renegotiate",
    "accept",
    "accept_good",
    "accept_renegotiate",
    "hits",
    "misses",
    "timeouts",
    "cache_full",
]


def stats(ctx):
    """The counters of session_stats() that are not zero."""
    counts = ctx.session_stats()
    assert list(counts) == STAT_NAMES
    assert all(type(value) is int for value in counts.values())
    return {name: value for name, value in counts.items() if value}


@pytest.mark.parametrize("protocol", ["PROTOCOL_TLS_CLIENT", "PROTOCOL_TLS_SERVER"])
def test_stats_of_a_new_context(either, protocol):
    assert stats(either.SSLContext(getattr(either, protocol))) == {}


@pytest.mark.parametrize("version", VERSIONS)
def test_stats_count_handshakes_and_hits(serve, contexts, version):
    server_ctx, client_ctx = contexts(version)
    session = visit(serve, server_ctx, client_ctx).session
    assert stats(server_ctx) == dict(accept=1, accept_good=1)
    assert stats(client_ctx) == dict(connect=1, connect_good=1)
    visit(serve, server_ctx, client_ctx, session=session)
    visit(serve, server_ctx, client_ctx)
    assert stats(server_ctx) == dict(accept=3, accept_good=3, hits=1)
    assert stats(client_ctx) == dict(connect=3, connect_good=3, hits=1)


def server_without_tickets(module, certs):
    ctx = server_context(module, certs)
    ctx.options |= module.OP_NO_TICKET
    return ctx


def test_stats_of_a_server_side_session_cache(serve, certs, either):
    # Without tickets a TLS 1.2 server keeps its sessions in its cache
    # ("number"); an id it does not have is a miss.
    server_ctx, elsewhere = (
        server_without_tickets(either, certs),
        server_without_tickets(either, certs),
    )
    client_ctx = limited(client_context(either, certs), either, "TLSv1_2")
    first = visit(serve, server_ctx, client_ctx, shutdown=True)
    assert first.session.has_ticket is False
    assert (
        visit(
            serve, server_ctx, client_ctx, session=first.session, shutdown=True
        ).reused
        is True
    )
    assert stats(server_ctx) == dict(number=1, accept=2, accept_good=2, hits=1)
    assert (
        visit(serve, elsewhere, client_ctx, session=first.session, shutdown=True).reused
        is False
    )
    assert stats(elsewhere) == dict(number=1, accept=1, accept_good=1, misses=1)


def test_a_server_side_cache_forgets_sessions_ended_without_shutdown(
    serve, certs, either
):
    # OpenSSL drops a cached session when its connection ends without
    # close_notify (tickets, which the server does not keep, are unaffected).
    server_ctx = server_without_tickets(either, certs)
    client_ctx = limited(client_context(either, certs), either, "TLSv1_2")
    first = visit(serve, server_ctx, client_ctx, shutdown=False)
    assert visit(serve, server_ctx, client_ctx, session=first.session).reused is False
    assert stats(server_ctx) == dict(accept=2, accept_good=2, misses=1)


# ---- setting a session: errors ---------------------------------------------------------


@pytest.fixture
def session_of(serve, certs, either):
    """(client context, a session made with it, its server context)"""
    server_ctx = server_context(either, certs)
    client_ctx = limited(client_context(either, certs), either, "TLSv1_2")
    return client_ctx, visit(serve, server_ctx, client_ctx).session, server_ctx


@pytest.fixture
def unconnected():
    """unconnected(ctx, kind, module, server_side=False): a client end (a
    server end with ``server_side``) that has not done its handshake: an
    SSLSocket on a connected socket pair, or an SSLObject. The SSLSockets
    are closed after the test."""
    sslsockets = []

    def make(ctx, kind, module, server_side=False):
        settings = {"server_side": server_side}
        if not server_side:
            settings["server_hostname"] = "localhost"
        if kind == "SSLObject":
            return ctx.wrap_bio(module.MemoryBIO(), module.MemoryBIO(), **settings)
        left, right = socket.socketpair()
        right.close()
        try:
            tls = ctx.wrap_socket(left, do_handshake_on_connect=False, **settings)
        except BaseException:
            left.close()
            raise
        sslsockets.append(tls)
        return tls

    yield make
    for tls in sslsockets:
        tls.close()


KINDS = ["SSLSocket", "SSLObject"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "value", [None, "session", object()], ids=["None", "str", "object"]
)
def test_setting_a_non_session_is_a_type_error(
    session_of, unconnected, either, kind, value
):
    client_ctx, _session, _server_ctx = session_of
    end = unconnected(client_ctx, kind, either)
    with pytest.raises(TypeError) as info:
        end.session = value
    assert str(info.value) == "Value is not a SSLSession."


@pytest.mark.parametrize("kind", KINDS)
def test_a_session_of_another_context_is_a_value_error(
    certs, session_of, unconnected, either, kind
):
    _client_ctx, session, _server_ctx = session_of
    end = unconnected(client_context(either, certs), kind, either)
    with pytest.raises(ValueError) as info:
        end.session = session
    assert str(info.value) == "Session refers to a different SSLContext."


def test_wrap_socket_with_a_session_of_another_context(certs, session_of, either):
    _client_ctx, session, _server_ctx = session_of
    left, right = socket.socketpair()
    with left, right, pytest.raises(ValueError) as info:
        client_context(either, certs).wrap_socket(
            left, server_hostname="localhost", session=session
        )
    assert str(info.value) == "Session refers to a different SSLContext."


@pytest.mark.parametrize("kind", KINDS)
def test_server_ends_take_no_session(serve, session_of, unconnected, either, kind):
    _client_ctx, _session, server_ctx = session_of
    # A session of the server's own context, so that only the side is wrong.
    server_session = visit(serve, server_ctx, session_of[0]).server_session
    end = unconnected(server_ctx, kind, either, server_side=True)
    with pytest.raises(ValueError) as info:
        end.session = server_session
    assert str(info.value) == "Cannot set session for server-side SSLSocket."


def test_wrap_socket_refuses_a_session_on_the_server_side(session_of, either):
    _client_ctx, session, server_ctx = session_of
    left, right = socket.socketpair()
    with left, right, pytest.raises(ValueError) as info:
        server_ctx.wrap_socket(left, server_side=True, session=session)
    assert str(info.value) == "session can only be specified in client mode"


def test_wrap_bio_refuses_a_session_on_the_server_side(serve, session_of, either):
    client_ctx, _session, server_ctx = session_of
    server_session = visit(serve, server_ctx, client_ctx).server_session
    with pytest.raises(ValueError) as info:
        server_ctx.wrap_bio(
            either.MemoryBIO(),
            either.MemoryBIO(),
            server_side=True,
            session=server_session,
        )
    assert str(info.value) == "Cannot set session for server-side SSLSocket."


@pytest.mark.parametrize("kind", KINDS)
def test_no_session_after_the_handshake(serve, session_of, kind):
    client_ctx, session, server_ctx = session_of
    if kind == "SSLObject":
        end = BioPair(client_ctx, server_ctx).handshake().client
        check(end, session)
        return

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    server = serve(handler)
    with (
        server.connect() as raw,
        client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        check(tls, session)
        tls.sendall(b".")
    server.join()


def check(end, session):
    with pytest.raises(ValueError) as info:
        end.session = session
    assert str(info.value) == "Cannot set session after handshake."


# ---- the openssl programs ---------------------------------------------------------------


@needs_openssl
@pytest.mark.parametrize("version", VERSIONS)
def test_resuming_with_openssl_s_server(openssl_server, certs, version):
    # s_server -www answers a request with a page that starts with
    # "New, <version>" or "Reused, <version>".
    proc, port = openssl_server("-www", "-naccept", "2")
    ctx = limited(client_context(pyssl, certs), pyssl, version)
    pages = []
    session = None
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(
                raw, server_hostname="localhost", session=session
            ) as tls:
                tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
                page = b""
                while chunk := tls.recv(65536):
                    page += chunk
                pages.append((tls.session_reused, page))
                session = tls.session
    label = version.replace("_", ".").encode()
    assert pages[0][0] is False
    assert b"\nNew, " + label in pages[0][1]
    assert pages[1][0] is True
    assert b"\nReused, " + label in pages[1][1]


@needs_openssl
@pytest.mark.parametrize("version", VERSIONS)
def test_openssl_s_client_resumes_with_a_pyssl_server(serve, certs, version, tmp_path):
    ctx = server_context(pyssl, certs)

    def handler(conn):
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"hello\n")
            tls.recv(1)  # until the client goes
            return tls.session_reused

    server = serve(handler, connections=2)
    saved = str(tmp_path / "session.pem")
    flag = "-tls1_2" if version == "TLSv1_2" else "-tls1_3"
    for session_args, expected in (
        (["-sess_out", saved], b"New, "),
        (["-sess_in", saved], b"Reused, "),
    ):
        client = OpenSSLProcess(
            [
                "s_client",
                "-connect",
                f"127.0.0.1:{server.port}",
                "-CAfile",
                certs.ca,
                "-servername",
                "localhost",
                flag,
                *session_args,
            ]
        )
        try:
            line = client.wait_for(expected)
            client.wait_for(b"hello")
        finally:
            client.stop()
        assert version.replace("_", ".").encode() in line
    assert server.join() == [False, True]
