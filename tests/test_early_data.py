"""TLS 1.3 early data (0-RTT), which pyssl adds to the stdlib's API:
``SSLContext.max_early_data`` on the server, ``SSLSession.max_early_data``,
``write_early_data()`` on a client resuming a session, ``read_early_data()``
on the server before its handshake, and ``early_data_accepted``.

OpenSSL protects a server with max_early_data set against replays by
keeping its session tickets in the server's cache for one use each; it
also drops a ticket there when the connection that issued it ends in an
error or without a TLS shutdown. So the first connection of each test,
which gets the ticket, ends with unwrap() on both sides.

Early data goes both ways between pyssl and the ``openssl`` programs; the
stdlib, which cannot send early data, plays a client that sends none."""

from __future__ import annotations

import contextlib
import functools
import socket
from dataclasses import dataclass
from typing import Any

import pytest
from openssl_cli import needs_openssl
from peers import BioPair, client_context, server_context

import pyssl

pytestmark = pytest.mark.skipif(
    not pyssl.HAS_EARLY_DATA, reason="this OpenSSL has no TLS 1.3"
)

EARLY = b"GET /early HTTP/1.1\r\n\r\n"


def early_server_context(certs, max_early_data=16384, **settings):
    ctx = server_context(pyssl, certs, **settings)
    ctx.max_early_data = max_early_data
    return ctx


def contexts(certs, max_early_data=16384):
    """(server, client): an early-data server context with the test
    server certificate and a pyssl client context trusting the test CA."""
    return early_server_context(certs, max_early_data), client_context(pyssl, certs)


@pytest.fixture
def tls(certs):
    """A BioPair of those contexts without a session, not yet handshaken."""
    server_ctx, client_ctx = contexts(certs)
    return BioPair(client_ctx, server_ctx)


def read_all_early_data(tls, size=1024):
    chunks = []
    while chunk := tls.read_early_data(size):
        chunks.append(chunk)
    return b"".join(chunks)


def first_session(serve, server_ctx, client_ctx, clean=True):
    """The session of a first connection, which ends with a TLS shutdown on
    both sides (``clean``) or with none."""

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1) == b"?"
            tls.sendall(b"!")
            if clean:
                assert tls.recv(1) == b""  # the client's close_notify
                tls.unwrap()

    server = serve(handler)
    with (
        server.connect() as raw,
        client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"?")
        assert tls.recv(1) == b"!"  # the tickets came before it
        session = tls.session
        if clean:
            tls.unwrap()
    server.join()
    return session


def with_a_session(serve, certs, clean=True, max_early_data=16384):
    """(server context, client context, session): the contexts of
    contexts() and the session of a first connection between them."""
    server_ctx, client_ctx = contexts(certs, max_early_data)
    return server_ctx, client_ctx, first_session(serve, server_ctx, client_ctx, clean)


def first_pair(client_ctx, server_ctx):
    """A first connection over memory BIOs, handshaken, with its tickets
    received. Keep it while its session is used: freed without a TLS
    shutdown, its server end would drop the ticket from the server's
    cache."""
    first = BioPair(client_ctx, server_ctx).handshake()
    first.send(b"?")
    assert first.send(b"!", to_server=False) == b"!"
    return first


def resuming_pair(certs, max_early_data=16384):
    """(first, pair): a first_pair() of the contexts of contexts(), and a
    BioPair resuming its session, not yet handshaken."""
    server_ctx, client_ctx = contexts(certs, max_early_data)
    first = first_pair(client_ctx, server_ctx)
    return first, BioPair(client_ctx, server_ctx, session=first.client.session)


@contextlib.contextmanager
def resuming(connect, client_ctx, session):
    """A client SSLSocket with ``session`` over the socket ``connect()``
    returns, its handshake left to the caller (who writes early data
    first)."""
    with (
        connect() as raw,
        client_ctx.wrap_socket(
            raw,
            server_hostname="localhost",
            session=session,
            do_handshake_on_connect=False,
        ) as tls,
    ):
        yield tls


@dataclass
class Outcome:
    """What a connection with early data left on both sides."""

    written: int
    client_accepted: Any
    early: bytes  # what the server read as early data
    server_accepted: Any
    late: bytes  # what the server read after the handshake
    reused: tuple[bool, bool]  # (client, server) session_reused
    session: Any  # the client's new session
    alpn: Any  # the client's selected_alpn_protocol()


def early_data_handler(server_ctx, read_early=True):
    """A server that reads the early data (unless ``read_early`` is false:
    then it does a plain handshake), then one record of ordinary data."""

    def handler(conn):
        with server_ctx.wrap_socket(
            conn, server_side=True, do_handshake_on_connect=not read_early
        ) as tls:
            early = read_all_early_data(tls) if read_early else b""
            if read_early:
                tls.do_handshake()
            late = tls.recv(1024)
            tls.sendall(b"!\n")
            result = early, tls.early_data_accepted, late, tls.session_reused
            assert tls.recv(1) == b""
            tls.unwrap()
            return result

    return handler


def send_early(serve, server_ctx, client_ctx, session, data=EARLY, read_early=True):
    """Connect with ``session``, send ``data`` as early data, finish the
    handshake and send "late", with the early data again before it if the
    server rejected it (which is the client's job)."""
    server = serve(early_data_handler(server_ctx, read_early))
    with resuming(server.connect, client_ctx, session) as tls:
        assert tls.early_data_accepted is None
        written = tls.write_early_data(data)
        tls.do_handshake()
        accepted = tls.early_data_accepted
        tls.sendall((b"" if accepted else data) + b"late")
        assert tls.recv(2) == b"!\n"
        client_reused, new_session, alpn = (
            tls.session_reused,
            tls.session,
            tls.selected_alpn_protocol(),
        )
        tls.unwrap()
    [(early, server_accepted, late, server_reused)] = server.join()
    return Outcome(
        written,
        accepted,
        early,
        server_accepted,
        late,
        (client_reused, server_reused),
        new_session,
        alpn,
    )


# ---- pyssl on both ends --------------------------------------------------------------


def test_accepted_between_pyssl_ends(serve, certs):
    server_ctx, client_ctx, session = with_a_session(serve, certs)
    assert session.max_early_data == 16384
    outcome = send_early(serve, server_ctx, client_ctx, session)
    assert outcome.written == len(EARLY)
    assert outcome.early == EARLY and outcome.late == b"late"
    assert outcome.client_accepted is True and outcome.server_accepted is True
    assert outcome.reused == (True, True)


def test_each_connection_brings_a_ticket_for_the_next(serve, certs):
    server_ctx, client_ctx, session = with_a_session(serve, certs)
    for i in range(3):
        outcome = send_early(
            serve, server_ctx, client_ctx, session, data=b"request %d" % i
        )
        assert (outcome.early, outcome.client_accepted) == (b"request %d" % i, True)
        session = outcome.session


def test_sni_callback_and_alpn_with_early_data(serve, certs):
    names = []
    server_ctx = early_server_context(certs)
    server_ctx.set_alpn_protocols(["h2", "http/1.1"])
    server_ctx.sni_callback = lambda tls, name, ctx: names.append(name)
    client_ctx = client_context(pyssl, certs)
    client_ctx.set_alpn_protocols(["h2"])
    session = first_session(serve, server_ctx, client_ctx)
    outcome = send_early(serve, server_ctx, client_ctx, session)
    assert (outcome.early, outcome.client_accepted, outcome.reused) == (
        EARLY,
        True,
        (True, True),
    )
    # TLS 1.3 takes early data only with the session's ALPN protocol.
    assert outcome.alpn == "h2"
    assert names == ["localhost", "localhost"]


def test_an_sni_callback_error_reaches_read_early_data(serve, certs, unraisable):
    server_ctx, client_ctx, session = with_a_session(serve, certs)

    def refuse(tls, name, ctx):
        raise LookupError(f"no such host: {name}")

    server_ctx.sni_callback = refuse

    def handler(conn):
        with server_ctx.wrap_socket(
            conn, server_side=True, do_handshake_on_connect=False
        ) as tls:
            with pytest.raises(pyssl.SSLError) as info:
                tls.read_early_data()
            return info.value

    server = serve(handler)
    with resuming(server.connect, client_ctx, session) as tls:
        tls.write_early_data(EARLY)
        with pytest.raises(pyssl.SSLError):
            tls.do_handshake()
    [error] = server.join()
    assert isinstance(error.__cause__, LookupError)
    assert str(error.__cause__) == "no such host: localhost"


def test_large_early_data_over_several_records(serve, certs):
    # 40 KB is more than OpenSSL's default limit on what a server takes in
    # (16 KiB): setting max_early_data raises that as well.
    server_ctx, client_ctx, session = with_a_session(serve, certs, max_early_data=65536)
    data = bytes(range(256)) * 160
    server = serve(early_data_handler(server_ctx))
    with resuming(server.connect, client_ctx, session) as tls:
        assert tls.write_early_data(data[:30000]) == 30000
        assert tls.write_early_data(data[30000:]) == len(data) - 30000
        tls.do_handshake()
        assert tls.early_data_accepted is True
        tls.sendall(b"late")
        assert tls.recv(2) == b"!\n"
        tls.unwrap()
    [(early, accepted, late, _)] = server.join()
    assert (early, accepted, late) == (data, True, b"late")


def test_over_memory_bios(certs):
    _first, tls = resuming_pair(certs)
    # Nothing from the client yet: the server needs its ClientHello.
    with pytest.raises(pyssl.SSLWantReadError):
        tls.server.read_early_data()
    assert tls.client.write_early_data(b"part one, ") == 10
    assert tls.client.write_early_data(b"part two") == 8
    tls._move()
    assert tls.server.read_early_data(1024) == b"part one, "
    assert tls.server.read_early_data(1024) == b"part two"
    # The client has not ended its early data yet.
    with pytest.raises(pyssl.SSLWantReadError):
        tls.server.read_early_data()
    tls.handshake()
    assert tls.server.read_early_data() == b""  # the handshake is done
    assert tls.client.early_data_accepted is tls.server.early_data_accepted is True
    assert tls.send(b"after") == b"after"


def test_read_early_data_stops_at_len_and_at_a_record(certs):
    _first, tls = resuming_pair(certs, max_early_data=65536)
    tls.client.write_early_data(bytes(20000))
    tls._move()
    assert len(tls.server.read_early_data(100)) == 100
    assert (
        len(tls.server.read_early_data(100000)) == 16384 - 100
    )  # the rest of the first record
    assert len(tls.server.read_early_data(100000)) == 20000 - 16384


# ---- rejected: the client learns it, and sends the data again ------------------------


def test_rejected_when_the_server_no_longer_allows_it(serve, certs):
    server_ctx, client_ctx, session = with_a_session(serve, certs)
    server_ctx.max_early_data = 0
    outcome = send_early(serve, server_ctx, client_ctx, session)
    assert (outcome.client_accepted, outcome.server_accepted, outcome.early) == (
        False,
        False,
        b"",
    )
    assert outcome.late == EARLY + b"late"


def test_rejected_by_a_server_that_does_not_read_it(serve, certs):
    # A server that handshakes as usual (stdlib code) never takes early data.
    server_ctx, client_ctx, session = with_a_session(serve, certs)
    outcome = send_early(serve, server_ctx, client_ctx, session, read_early=False)
    assert (outcome.client_accepted, outcome.server_accepted) == (False, False)
    assert outcome.late == EARLY + b"late"
    assert outcome.reused == (True, True)


def test_replaying_a_ticket_is_rejected(serve, certs):
    # OpenSSL's replay protection: a ticket is good for one resumption.
    server_ctx, client_ctx, session = with_a_session(serve, certs)
    first = send_early(serve, server_ctx, client_ctx, session)
    again = send_early(serve, server_ctx, client_ctx, session)
    assert (first.client_accepted, first.reused) == (True, (True, True))
    assert (again.client_accepted, again.server_accepted, again.reused) == (
        False,
        False,
        (False, False),
    )
    assert again.late == EARLY + b"late"


def test_rejected_after_a_connection_ended_without_shutdown(serve, certs):
    server_ctx, client_ctx, session = with_a_session(serve, certs, clean=False)
    assert session.max_early_data == 16384
    outcome = send_early(serve, server_ctx, client_ctx, session)
    assert (outcome.client_accepted, outcome.reused) == (False, (False, False))
    assert outcome.late == EARLY + b"late"


def test_rejected_by_another_context(serve, certs):
    # Tickets are sealed with keys of the SSLContext that issued them.
    client_ctx = client_context(pyssl, certs)
    session = first_session(serve, early_server_context(certs), client_ctx)
    outcome = send_early(serve, early_server_context(certs), client_ctx, session)
    assert (outcome.client_accepted, outcome.server_accepted, outcome.reused) == (
        False,
        False,
        (False, False),
    )


def test_more_than_the_session_allows_is_an_ssl_error(certs):
    server_ctx, client_ctx = contexts(certs, max_early_data=100)
    first = first_pair(client_ctx, server_ctx)
    session = first.client.session
    assert session.max_early_data == 100
    tls = BioPair(client_ctx, server_ctx, session=session)
    assert tls.client.write_early_data(bytes(60)) == 60
    with pytest.raises(pyssl.SSLError) as info:
        tls.client.write_early_data(bytes(41))
    assert (info.value.library, info.value.reason) == ("SSL", "TOO_MUCH_EARLY_DATA")


# ---- clients that send none ------------------------------------------------------


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_server_reading_early_data_from_a_client_that_sends_none(
    serve, certs, peer, version
):
    # Any client will do: read_early_data() gives b'' at once. With a TLS
    # 1.2 client it has finished the handshake by then.
    server_ctx = early_server_context(certs)
    client_ctx = client_context(
        peer, certs, maximum_version=getattr(peer.TLSVersion, version)
    )

    def handler(conn):
        with server_ctx.wrap_socket(
            conn, server_side=True, do_handshake_on_connect=False
        ) as tls:
            early = tls.read_early_data()
            done_early = tls.version()
            tls.do_handshake()
            assert tls.recv(1024) == b"hello"
            tls.sendall(b"!")
            return early, done_early, tls.version(), tls.early_data_accepted

    server = serve(handler)
    with (
        server.connect() as raw,
        client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"hello")
        assert tls.recv(1) == b"!"
    [(early, done_early, negotiated, accepted)] = server.join()
    assert early == b"" and accepted is False
    assert negotiated == version.replace("_", ".")
    assert done_early == ("TLSv1.2" if version == "TLSv1_2" else None)


def test_session_of_a_server_without_early_data_allows_none(serve, certs):
    server_ctx, client_ctx = server_context(pyssl, certs), client_context(pyssl, certs)
    assert server_ctx.max_early_data == 0
    session = first_session(serve, server_ctx, client_ctx)
    assert session.max_early_data == 0
    tls = BioPair(client_ctx, server_ctx, session=session)
    with pytest.raises(ValueError, match="^the session does not allow early data$"):
        tls.client.write_early_data(EARLY)


def test_without_a_session_is_a_value_error(tls):
    with pytest.raises(ValueError, match="^the session does not allow early data$"):
        tls.client.write_early_data(EARLY)


# ---- against the openssl programs -------------------------------------------------


@needs_openssl
def test_pyssl_client_with_openssl_s_server(openssl_server, certs):
    proc, port = openssl_server("-early_data", "-naccept", "2")
    ctx = client_context(pyssl, certs)
    connect = functools.partial(socket.create_connection, ("127.0.0.1", port), 10)
    with connect() as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"first\n")
            proc.wait_for(b"first")
            proc.send(b"ticket\n")
            assert tls.recv(1024) == b"ticket\n"
            session = tls.session
            tls.unwrap()
    assert session.max_early_data > 0
    with resuming(connect, ctx, session) as tls:
        tls.write_early_data(b"early from pyssl\n")
        tls.do_handshake()
        assert tls.early_data_accepted is True
        tls.sendall(b"late\n")
        proc.wait_for(b"late")
    lines = [line.strip() for line in proc.transcript]
    assert b"Early data received:" in lines and b"early from pyssl" in lines
    assert lines.index(b"early from pyssl") < lines.index(b"late")


@needs_openssl
def test_openssl_s_client_to_pyssl_server(serve, certs, openssl_client, tmp_path):
    server_ctx = early_server_context(certs)
    session_file, early_file = tmp_path / "session.pem", tmp_path / "early.txt"
    early_file.write_bytes(b"early from s_client\n")

    def first(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"hello\n")
            assert tls.recv(1024) == b""  # s_client's close_notify
            tls.unwrap()

    server = serve(first)
    client = openssl_client(server.port, "-sess_out", str(session_file))
    client.wait_for(b"hello")  # the tickets, and so the session file, came first
    client.send(b"Q\n")
    server.join()

    server = serve(early_data_handler(server_ctx))
    client = openssl_client(
        server.port, "-sess_in", str(session_file), "-early_data", str(early_file)
    )
    client.wait_for(b"Reused, TLSv1.3")
    client.send(b"late")  # s_client sends it as soon as it reads it
    client.wait_for(b"!")  # the server's answer
    client.send(b"Q\n")
    [(early, accepted, late, reused)] = server.join()
    assert (early, accepted, late, reused) == (
        b"early from s_client\n",
        True,
        b"late",
        True,
    )


# ---- where early data cannot be ----------------------------------------------------


def test_wrong_side_is_a_value_error(tls):
    with pytest.raises(
        ValueError, match="^only a server-side connection can read early data$"
    ):
        tls.client.read_early_data()
    with pytest.raises(
        ValueError, match="^only a client-side connection can write early data$"
    ):
        tls.server.write_early_data(EARLY)


def test_after_the_handshake(tls):
    tls.handshake()
    with pytest.raises(
        ValueError, match="^early data can only be written before the handshake$"
    ):
        tls.client.write_early_data(EARLY)
    assert tls.server.read_early_data() == b""
    assert tls.client.early_data_accepted is tls.server.early_data_accepted is False


@pytest.mark.parametrize(
    "step, reason",
    [("do_handshake", "UNEXPECTED_RECORD"), ("write", "SHOULD_NOT_HAVE_BEEN_CALLED")],
)
def test_handshake_or_write_with_early_data_unread_is_an_ssl_error(certs, step, reason):
    _first, tls = resuming_pair(certs)
    tls.client.write_early_data(b"one")
    tls.client.write_early_data(b"two")
    tls._move()
    assert tls.server.read_early_data() == b"one"
    tls._move()
    tls.client.do_handshake()  # ends its early data: EndOfEarlyData, Finished
    tls._move()
    with pytest.raises(pyssl.SSLError) as info:
        tls.server.do_handshake() if step == "do_handshake" else tls.server.write(
            b"answer"
        )
    assert (info.value.library, info.value.reason) == ("SSL", reason)


def test_read_early_data_keeps_giving_b_empty_once_done(tls):
    steps = {
        tls.client: tls.client.do_handshake,
        tls.server: tls.server.read_early_data,
    }
    assert tls._run(steps)[tls.server] == b""
    assert tls.server.read_early_data() == b""  # not yet handshaken: still b''
    tls.handshake()
    assert tls.server.version() == "TLSv1.3"


def test_unconnected_socket_is_a_value_error(certs):
    with client_context(pyssl, certs).wrap_socket(
        socket.socket(), server_hostname="localhost"
    ) as tls:
        with pytest.raises(ValueError, match="^No SSL wrapper around "):
            tls.write_early_data(EARLY)
        with pytest.raises(ValueError, match="^No SSL wrapper around "):
            tls.read_early_data()
        assert tls.early_data_accepted is None


def test_bad_arguments(tls):
    with pytest.raises(TypeError, match="^a bytes-like object is required, not 'str'$"):
        tls.client.write_early_data("text")
    with pytest.raises(ValueError, match="^size should not be negative$"):
        tls.server.read_early_data(-1)
    with pytest.raises(TypeError):
        tls.server.read_early_data("1")
    assert tls.server.read_early_data(0) == b""


def test_a_silent_client_times_out(serve, certs, connected_pair):
    ours, theirs = connected_pair
    theirs.settimeout(0.2)
    with early_server_context(certs).wrap_socket(
        theirs, server_side=True, do_handshake_on_connect=False
    ) as tls:
        with pytest.raises(
            TimeoutError, match="^The read_early_data operation timed out$"
        ):
            tls.read_early_data()
        tls.settimeout(0.0)
        with pytest.raises(pyssl.SSLWantReadError):
            tls.read_early_data()


# ---- SSLContext.max_early_data ------------------------------------------------------


def test_max_early_data_setting(certs):
    ctx = server_context(pyssl, certs)
    assert ctx.max_early_data == 0
    ctx.max_early_data = 1234
    assert ctx.max_early_data == 1234
    ctx.max_early_data = 2**32 - 1
    assert ctx.max_early_data == 2**32 - 1
    ctx.max_early_data = 0
    assert ctx.max_early_data == 0


@pytest.mark.parametrize(
    "value, error, message",
    [
        (-1, ValueError, "value must be non-negative"),
        (2**32, OverflowError, "max_early_data must be at most 4294967295"),
        ("16", TypeError, "'str' object cannot be interpreted as an integer"),
        (1.5, TypeError, "'float' object cannot be interpreted as an integer"),
    ],
)
def test_max_early_data_bad_values(certs, value, error, message):
    ctx = server_context(pyssl, certs)
    with pytest.raises(error) as info:
        ctx.max_early_data = value
    assert str(info.value) == message
    assert ctx.max_early_data == 0


def test_max_early_data_on_a_client_context_is_a_value_error():
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    with pytest.raises(ValueError, match="^SSLContext is not a server context.$"):
        ctx.max_early_data = 16384
    assert ctx.max_early_data == 0
