"""SSLSocket.selected_alpn_protocol(): the protocol ALPN (RFC 7301) chose,
or None when none was chosen; and SSLContext.set_alpn_protocols()'s checks.

The stdlib documents all of this, so the pyssl end of each conversation is
paired with pyssl, the stdlib and the openssl programs, and the checks that
need no peer run against both modules."""

from __future__ import annotations

import socket

import pytest
from openssl_cli import needs_openssl
from peers import client_context, converse, server_context

import pyssl


def alpn_context(make, module, certs, protocols, maximum=None):
    ctx = make(module, certs)
    if protocols is not None:
        ctx.set_alpn_protocols(protocols)
    if maximum is not None:
        ctx.maximum_version = getattr(module.TLSVersion, maximum)
    return ctx


def selected(tls):
    return tls.selected_alpn_protocol()


# (server's list, client's list, what both ends must report)
NEGOTIATIONS = {
    "server preference wins": (["h2", "http/1.1"], ["http/1.1", "h2"], "h2"),
    "the one common protocol": (["spdy/3", "http/1.1"], ["h2", "http/1.1"], "http/1.1"),
    "no common protocol": (["h2"], ["http/1.1"], None),
    "client did not ask": (["h2", "http/1.1"], None, None),
    "server offers nothing": (None, ["h2", "http/1.1"], None),
    "neither side": (None, None, None),
    "client's empty list": (["h2"], [], None),
    "server's empty list": ([], ["h2"], None),
}


@pytest.mark.parametrize("maximum", ["TLSv1_2", "TLSv1_3"])
@pytest.mark.parametrize("case", NEGOTIATIONS)
def test_pyssl_client_with_server(serve, certs, peer, case, maximum):
    server_protocols, client_protocols, expected = NEGOTIATIONS[case]
    server_ctx = alpn_context(server_context, peer, certs, server_protocols)
    client_ctx = alpn_context(client_context, pyssl, certs, client_protocols, maximum)
    # The handshake succeeds whatever the lists: no overlap is no ALPN.
    assert converse(serve, server_ctx, client_ctx, selected) == (expected, expected)


@pytest.mark.parametrize("case", NEGOTIATIONS)
def test_pyssl_server_with_client(serve, certs, peer, case):
    server_protocols, client_protocols, expected = NEGOTIATIONS[case]
    server_ctx = alpn_context(server_context, pyssl, certs, server_protocols)
    client_ctx = alpn_context(client_context, peer, certs, client_protocols)
    assert converse(serve, server_ctx, client_ctx, selected) == (expected, expected)


def test_none_before_the_handshake(serve, certs, either):
    server_ctx = alpn_context(server_context, either, certs, ["h2"])
    client_ctx = alpn_context(client_context, either, certs, ["h2"])
    ends = converse(
        serve, server_ctx, client_ctx, selected, probe_before_handshake=True
    )
    assert ends == ((None, "h2"), (None, "h2"))


def test_none_on_an_unconnected_socket(certs, either):
    ctx = alpn_context(client_context, either, certs, ["h2"])
    with ctx.wrap_socket(socket.socket(), server_hostname="localhost") as tls:
        assert tls.selected_alpn_protocol() is None


# ---- the openssl programs ---------------------------------------------------


@needs_openssl
@pytest.mark.parametrize(
    "server_args, client_protocols, expected",
    [
        (["-alpn", "h2,http/1.1"], ["http/1.1", "h2"], "h2"),
        ([], ["h2", "http/1.1"], None),  # s_server without -alpn ignores the extension
        (["-alpn", "h2"], None, None),
    ],
    ids=["server preference", "server without ALPN", "client without ALPN"],
)
def test_pyssl_client_with_openssl_s_server(
    openssl_server, certs, server_args, client_protocols, expected
):
    proc, port = openssl_server(*server_args)
    ctx = alpn_context(client_context, pyssl, certs, client_protocols)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == expected
            tls.sendall(b"done\n")
            proc.wait_for(b"done")
    if expected is not None:
        assert any(
            line.strip() == f"ALPN protocols selected: {expected}".encode()
            for line in proc.transcript
        )


@needs_openssl
def test_s_server_refusing_every_proposal_fails_the_handshake(openssl_server, certs):
    # Unlike pyssl and the stdlib, s_server answers "no overlap" with a
    # fatal no_application_protocol alert; the client reports that alert.
    # pyssl alone: the stdlib's table of reason names predates this alert
    # and gives reason None.
    proc, port = openssl_server("-alpn", "h2")
    ctx = alpn_context(client_context, pyssl, certs, ["http/1.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with pytest.raises(pyssl.SSLError) as info:
            ctx.wrap_socket(raw, server_hostname="localhost")
    assert info.value.library == "SSL"
    assert info.value.reason == "TLSV1_ALERT_NO_APPLICATION_PROTOCOL"
    assert info.value.args[0] == pyssl.SSL_ERROR_SSL


@needs_openssl
@pytest.mark.parametrize(
    "server_protocols, client_args, expected",
    [
        (["h2", "http/1.1"], ["-alpn", "http/1.1,h2"], "h2"),
        (["h2"], ["-alpn", "http/1.1"], None),
        (["h2", "http/1.1"], [], None),  # s_client without -alpn sends no extension
        (None, ["-alpn", "h2"], None),
    ],
    ids=[
        "server preference",
        "no overlap",
        "client without ALPN",
        "server without ALPN",
    ],
)
def test_pyssl_server_with_openssl_s_client(
    serve, certs, openssl_client, server_protocols, client_args, expected
):
    ctx = alpn_context(server_context, pyssl, certs, server_protocols)

    def handler(conn):
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"hello\n")
            return tls.selected_alpn_protocol()

    server = serve(handler)
    client = openssl_client(server.port, *client_args)
    line = client.wait_for(b"ALPN")
    client.wait_for(b"hello")
    assert server.join() == [expected]
    if expected is None:
        assert line.strip() == b"No ALPN negotiated"
    else:
        assert line.strip() == f"ALPN protocol: {expected}".encode()


# ---- set_alpn_protocols() argument checks ------------------------------------


@pytest.mark.parametrize(
    "protocols",
    [[""], ["h2", ""], ["x" * 256]],
    ids=["empty", "empty second", "256 bytes"],
)
def test_name_length_outside_1_to_255_is_an_sslerror(either, protocols):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(either.SSLError) as info:
        ctx.set_alpn_protocols(protocols)
    assert info.value.args == ("ALPN protocols must be 1 to 255 in length",)


def test_255_byte_name_is_accepted(serve, certs, either):
    name = "p" * 255
    server_ctx = alpn_context(server_context, pyssl, certs, ["h2", name])
    client_ctx = alpn_context(client_context, either, certs, [name])
    assert converse(serve, server_ctx, client_ctx, selected) == (name, name)


def test_non_ascii_name_is_a_unicode_encode_error(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(UnicodeEncodeError) as info:
        ctx.set_alpn_protocols(["h2", "pythön"])
    assert info.value.encoding == "ascii"
    assert info.value.object == "pythön"


@pytest.mark.parametrize(
    "protocols, message",
    [
        ([b"h2"], "encoding without a string argument"),
        ([2], "encoding without a string argument"),
        (None, "'NoneType' object is not iterable"),
    ],
    ids=["bytes name", "int name", "None"],
)
def test_wrong_types_are_type_errors(either, protocols, message):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(TypeError) as info:
        ctx.set_alpn_protocols(protocols)
    assert str(info.value) == message


# ---- replacing the list while other threads make handshakes ----------------------


def test_the_protocols_replaced_during_handshakes_in_other_threads(certs):
    """A server's ALPN callback reads the context's list without the GIL,
    during handshakes in other threads, while the main thread replaces the
    list again and again: a list replaced must stay readable (the
    sanitizer build of CI sees a read of freed memory), and each handshake
    settles on a protocol one of the lists held."""
    import threading
    import time

    from peers import BioPair

    server_ctx = server_context(pyssl, certs)
    client_ctx = alpn_context(client_context, pyssl, certs, ["proto-a", "proto-b"])
    lists = [["proto-a"], ["proto-b"], ["proto-b", "proto-a"]]
    server_ctx.set_alpn_protocols(lists[0])
    stop = time.monotonic() + 1.5
    chosen: set = set()
    errors: list = []

    def handshakes():
        try:
            while time.monotonic() < stop:
                pair = BioPair(client_ctx, server_ctx).handshake()
                chosen.add(pair.client.selected_alpn_protocol())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=handshakes) for _ in range(2)]
    for thread in threads:
        thread.start()
    replaced = 0
    while time.monotonic() < stop:
        server_ctx.set_alpn_protocols(lists[replaced % 3])
        # Memory of the size of what was freed, written over with junk.
        junk = [bytearray(b"\xff" * 16) for _ in range(8)]
        del junk
        replaced += 1
    for thread in threads:
        thread.join()
    assert errors == []
    assert chosen <= {"proto-a", "proto-b"} and chosen
    assert replaced > 100


@pytest.mark.parametrize("setter", ["set_alpn_protocols", "set_npn_protocols"])
def test_a_replaced_list_lives_as_long_as_the_context(certs, setter):
    """What the previous list's C copy is, OpenSSL may still be reading in
    another thread's handshake: it is freed with the context, not before."""
    import gc
    import warnings
    import weakref

    ctx = server_context(pyssl, certs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # NPN
        getattr(ctx, setter)(["proto-a"])
        attribute = (
            "_alpn_protocols" if setter == "set_alpn_protocols" else "_npn_protocols"
        )
        first = [weakref.ref(part) for part in getattr(ctx, attribute)]
        getattr(ctx, setter)(["proto-b"])
        getattr(ctx, setter)(["proto-a"])  # the same list again: no new copy
    gc.collect()
    assert [part() for part in first] == list(getattr(ctx, attribute))
    del ctx
    gc.collect()
    assert [part() for part in first] == [None, None]
