"""SSLContext._msg_callback: the TLS protocol messages, as OpenSSL's message
callback sees them.

The callback is called as callback(conn, direction, version, content_type,
msg_type, data): ``conn`` the SSLSocket or SSLObject, ``direction`` "read"
or "write", ``version`` a TLSVersion, ``content_type`` a _TLSContentType,
``msg_type`` the _TLSMessageType of handshake messages, the _TLSAlertType
of alerts and the record's content type for record headers. It is private
but used (the stdlib's own tests and debugging tools rely on it), so every
check runs on both modules."""

from __future__ import annotations

import pytest
from peers import BioPair, client_context, converse, server_context
from ssl_modules import openssl_at_least


def recorder(module, calls, keep=None):
    """A message callback appending (conn, direction, version, content_type,
    msg_type, data) to ``calls``, the record headers left out unless
    ``keep`` names the content types to keep."""
    wanted = keep or {
        module._TLSContentType.HANDSHAKE,
        module._TLSContentType.CHANGE_CIPHER_SPEC,
        module._TLSContentType.ALERT,
    }

    def callback(*args):
        if args[3] in wanted:
            calls.append(args)

    return callback


def contexts(module, certs, version="TLSv1_3"):
    server_ctx = server_context(module, certs)
    client_ctx = client_context(module, certs)
    client_ctx.maximum_version = getattr(module.TLSVersion, version)
    return server_ctx, client_ctx


def summary(module, calls):
    """(direction, version, content type, message type) of each call, by name."""
    return [
        (direction, version.name, content.name, message.name)
        for _conn, direction, version, content, message, _data in calls
    ]


def handshake_calls(serve, module, certs, version, side, keep=None):
    server_ctx, client_ctx = contexts(module, certs, version)
    calls = []
    (client_ctx if side == "client" else server_ctx)._msg_callback = recorder(
        module, calls, keep
    )
    ends = converse(serve, server_ctx, client_ctx, lambda tls: tls)
    return calls, ends[0 if side == "server" else 1]


# What each end of a handshake sees (a TLS 1.3 server sends two tickets
# after the handshake, a TLS 1.2 server one within it).
CLIENT_TLS12 = [
    ("write", "TLSv1_2", "HANDSHAKE", "CLIENT_HELLO"),
    ("read", "TLSv1_2", "HANDSHAKE", "SERVER_HELLO"),
    ("read", "TLSv1_2", "HANDSHAKE", "CERTIFICATE"),
    ("read", "TLSv1_2", "HANDSHAKE", "SERVER_KEY_EXCHANGE"),
    ("read", "TLSv1_2", "HANDSHAKE", "SERVER_DONE"),
    ("write", "TLSv1_2", "HANDSHAKE", "CLIENT_KEY_EXCHANGE"),
    ("write", "TLSv1_2", "CHANGE_CIPHER_SPEC", "CHANGE_CIPHER_SPEC"),
    ("write", "TLSv1_2", "HANDSHAKE", "FINISHED"),
    ("read", "TLSv1_2", "HANDSHAKE", "NEWSESSION_TICKET"),
    ("read", "TLSv1_2", "HANDSHAKE", "FINISHED"),
]
CLIENT_TLS13 = [
    ("write", "TLSv1_3", "HANDSHAKE", "CLIENT_HELLO"),
    ("read", "TLSv1_3", "HANDSHAKE", "SERVER_HELLO"),
    ("read", "TLSv1_3", "HANDSHAKE", "ENCRYPTED_EXTENSIONS"),
    ("read", "TLSv1_3", "HANDSHAKE", "CERTIFICATE"),
    ("read", "TLSv1_3", "HANDSHAKE", "CERTIFICATE_VERIFY"),
    ("read", "TLSv1_3", "HANDSHAKE", "FINISHED"),
    ("write", "TLSv1_3", "CHANGE_CIPHER_SPEC", "CHANGE_CIPHER_SPEC"),  # RFC 8446 D.4
    ("write", "TLSv1_3", "HANDSHAKE", "FINISHED"),
    ("read", "TLSv1_3", "HANDSHAKE", "NEWSESSION_TICKET"),
    ("read", "TLSv1_3", "HANDSHAKE", "NEWSESSION_TICKET"),
]


SERVER_TLS12 = [
    # Which version the ClientHello carries is not settled before it is read.
    ("read", "TLSv1_3", "HANDSHAKE", "CLIENT_HELLO"),
    ("write", "TLSv1_2", "HANDSHAKE", "SERVER_HELLO"),
    ("write", "TLSv1_2", "HANDSHAKE", "CERTIFICATE"),
    ("write", "TLSv1_2", "HANDSHAKE", "SERVER_KEY_EXCHANGE"),
    ("write", "TLSv1_2", "HANDSHAKE", "SERVER_DONE"),
    ("read", "TLSv1_2", "HANDSHAKE", "CLIENT_KEY_EXCHANGE"),
    ("read", "TLSv1_2", "HANDSHAKE", "FINISHED"),
    ("write", "TLSv1_2", "HANDSHAKE", "NEWSESSION_TICKET"),
    ("write", "TLSv1_2", "CHANGE_CIPHER_SPEC", "CHANGE_CIPHER_SPEC"),
    ("write", "TLSv1_2", "HANDSHAKE", "FINISHED"),
]
SERVER_TLS13 = [
    ("read", "TLSv1_3", "HANDSHAKE", "CLIENT_HELLO"),
    ("write", "TLSv1_3", "HANDSHAKE", "SERVER_HELLO"),
    ("write", "TLSv1_3", "CHANGE_CIPHER_SPEC", "CHANGE_CIPHER_SPEC"),
    ("write", "TLSv1_3", "HANDSHAKE", "ENCRYPTED_EXTENSIONS"),
    ("write", "TLSv1_3", "HANDSHAKE", "CERTIFICATE"),
    ("write", "TLSv1_3", "HANDSHAKE", "CERTIFICATE_VERIFY"),
    ("write", "TLSv1_3", "HANDSHAKE", "FINISHED"),
    ("read", "TLSv1_3", "HANDSHAKE", "FINISHED"),
    ("write", "TLSv1_3", "HANDSHAKE", "NEWSESSION_TICKET"),
    ("write", "TLSv1_3", "HANDSHAKE", "NEWSESSION_TICKET"),
]
# A ChangeCipherSpec is reported when it is written, not when it is read ...
EXPECTED = {
    ("TLSv1_2", "client"): CLIENT_TLS12,
    ("TLSv1_3", "client"): CLIENT_TLS13,
    ("TLSv1_2", "server"): SERVER_TLS12,
    ("TLSv1_3", "server"): SERVER_TLS13,
}
# ... except that OpenSSL 3.4 and later also report the TLS 1.3 ones they
# read (and drop, RFC 8446 section 5): the server's, right after its
# ServerHello; the client's, right before its Finished.
READ_CCS_TLS13 = {
    "client": ("HANDSHAKE", "SERVER_HELLO", 1),
    "server": ("HANDSHAKE", "FINISHED", 0),
}


def expected_messages(module, version, side):
    expected = list(EXPECTED[version, side])
    if version == "TLSv1_3" and openssl_at_least(module, 3, 4):
        content, message, offset = READ_CCS_TLS13[side]
        position = expected.index(("read", version, content, message)) + offset
        expected.insert(
            position, ("read", version, "CHANGE_CIPHER_SPEC", "CHANGE_CIPHER_SPEC")
        )
    return expected


@pytest.mark.parametrize("side", ["client", "server"])
@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_handshake_messages(serve, certs, either, version, side):
    calls, end = handshake_calls(serve, either, certs, version, side)
    assert summary(either, calls) == expected_messages(either, version, side)
    for conn, direction, version_value, content, message, data in calls:
        assert conn is end
        assert type(direction) is str
        assert type(version_value) is either.TLSVersion
        assert type(content) is either._TLSContentType
        assert type(message) is either._TLSMessageType
        assert type(data) is bytes
        if content == either._TLSContentType.HANDSHAKE:
            # The whole message: type, 3-byte length, body.
            assert data[0] == message
            assert int.from_bytes(data[1:4], "big") == len(data) - 4
        else:
            assert data == b"\x01"


def test_record_headers(serve, certs, either):
    keep = {either._TLSContentType.HEADER}
    calls, _end = handshake_calls(serve, either, certs, "TLSv1_3", "client", keep)
    for _conn, _direction, version, content, record_type, data in calls:
        assert content is either._TLSContentType.HEADER
        assert type(record_type) is either._TLSContentType
        # The header's own fields: type, version, length.
        assert (data[0], (data[1] << 8) | data[2], len(data)) == (
            record_type,
            version,
            5,
        )
    headers = [
        (direction, version.name, record.name)
        for _c, direction, version, _h, record, _d in calls
    ]
    # The first ClientHello record says TLS 1.0 for old middleboxes
    # (RFC 8446 5.1), every later record TLS 1.2; TLS 1.3 hides its
    # handshake in APPLICATION_DATA records.
    assert headers[:4] == [
        ("write", "TLSv1", "HANDSHAKE"),
        ("read", "TLSv1_2", "HANDSHAKE"),
        ("read", "TLSv1_2", "CHANGE_CIPHER_SPEC"),
        ("read", "TLSv1_2", "APPLICATION_DATA"),
    ]
    assert {version for _direction, version, _record in headers[1:]} == {"TLSv1_2"}


def test_inner_content_types(serve, certs, either):
    keep = {either._TLSContentType.INNER_CONTENT_TYPE}
    calls, _end = handshake_calls(serve, either, certs, "TLSv1_3", "client", keep)
    # Each TLS 1.3 record's real content type, the last byte of its
    # plaintext, reported as a message type.
    assert calls
    for *_head, message, data in calls:
        assert len(data) == 1
        assert message == data[0]
    assert {data[0] for *_head, data in calls} == {
        22,
        23,
    }  # handshake, application data


def test_the_sslobject_is_passed(certs, either):
    server_ctx, client_ctx = contexts(either, certs)
    calls = []
    client_ctx._msg_callback = recorder(either, calls)
    pair = BioPair(client_ctx, server_ctx).handshake()
    assert {conn for conn, *_rest in calls} == {pair.client}
    assert summary(either, calls)[:2] == CLIENT_TLS13[:2]


# ---- alerts ----------------------------------------------------------------------------


def alerts(module, calls):
    return [
        (direction, message, data)
        for _c, direction, _v, content, message, data in calls
        if content == module._TLSContentType.ALERT
    ]


def test_alerts_of_a_failed_handshake(handshake, certs, either):
    server_ctx, client_ctx = (
        server_context(either, certs),
        either.SSLContext(either.PROTOCOL_TLS_CLIENT),
    )
    client_calls, server_calls = [], []
    client_ctx._msg_callback = recorder(either, client_calls)
    server_ctx._msg_callback = recorder(either, server_calls)
    client, server = handshake(server_ctx, client_ctx)  # the client trusts no CA
    assert type(client) is either.SSLCertVerificationError
    assert isinstance(server, either.SSLError)
    fatal_unknown_ca = b"\x02\x30"  # level 2 (fatal), description 48
    assert alerts(either, client_calls) == [
        ("write", either._TLSAlertType.UNKNOWN_CA, fatal_unknown_ca)
    ]
    assert alerts(either, server_calls) == [
        ("read", either._TLSAlertType.UNKNOWN_CA, fatal_unknown_ca)
    ]
    assert type(alerts(either, client_calls)[0][1]) is either._TLSAlertType


def test_close_notify(serve, certs, either):
    server_ctx, client_ctx = contexts(either, certs)
    calls = []
    client_ctx._msg_callback = recorder(either, calls)

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)
            tls.unwrap()

    server = serve(handler)
    with (
        server.connect() as raw,
        client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"!")
        tls.unwrap()
    server.join()
    close_notify = b"\x01\x00"  # level 1 (warning), description 0
    assert alerts(either, calls) == [
        ("write", either._TLSAlertType.CLOSE_NOTIFY, close_notify),
        ("read", either._TLSAlertType.CLOSE_NOTIFY, close_notify),
    ]


# ---- the attribute ------------------------------------------------------------------------


def test_the_callback_reads_back(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    assert ctx._msg_callback is None

    def callback(*args):
        pass

    ctx._msg_callback = callback
    assert ctx._msg_callback is callback
    ctx._msg_callback = None
    assert ctx._msg_callback is None


@pytest.mark.parametrize("value", [42, "callback"], ids=["int", "str"])
def test_non_callables_are_type_errors(either, value):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(TypeError) as info:
        ctx._msg_callback = value
    assert str(info.value) == f"{value} is not callable."


def test_none_removes_the_callback(serve, certs, either):
    server_ctx, client_ctx = contexts(either, certs)
    calls = []
    client_ctx._msg_callback = recorder(either, calls)
    client_ctx._msg_callback = None
    converse(serve, server_ctx, client_ctx, lambda tls: None)
    assert calls == []


# ---- a callback that raises ----------------------------------------------------------------


class CallbackFailure(Exception):
    pass


def failing_on(count):
    calls = []

    def callback(*args):
        calls.append(args)
        if len(calls) in count:
            raise CallbackFailure(len(calls))

    return callback


@pytest.mark.parametrize("timeout", [None, 10.0], ids=["blocking", "timeout"])
@pytest.mark.parametrize("when", ["first call", "every call"])
def test_the_exception_is_raised_by_the_handshake(serve, certs, either, timeout, when):
    # The handshake itself completes: the server finishes its side; the
    # client's do_handshake() then raises what the callback raised.
    server_ctx, client_ctx = contexts(either, certs)
    client_ctx._msg_callback = failing_on(
        {1} if when == "first call" else range(1, 1000)
    )

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            return tls.version()

    server = serve(handler)
    with server.connect(timeout=timeout) as raw:
        raw.settimeout(timeout)
        tls = client_ctx.wrap_socket(
            raw, server_hostname="localhost", do_handshake_on_connect=False
        )
        with tls:
            with pytest.raises(CallbackFailure):
                tls.do_handshake()
            assert tls.version() == "TLSv1.3"
    assert server.join() == ["TLSv1.3"]


def test_an_sslobject_chains_the_exception_to_the_want_read_error(certs, either):
    server_ctx, client_ctx = contexts(either, certs)
    client_ctx._msg_callback = failing_on({1})
    pair = BioPair(client_ctx, server_ctx)
    # The ClientHello is written, then the client waits for the server.
    with pytest.raises(either.SSLWantReadError) as info:
        pair.client.do_handshake()
    assert type(info.value.__context__) is CallbackFailure
    assert info.value.__context__.args == (1,)
    pair.handshake()  # the exception was raised once: the handshake goes on
    assert pair.client.version() == "TLSv1.3"


def test_the_exception_is_raised_by_a_read(serve, certs, either):
    server_ctx, client_ctx = contexts(either, certs)
    fail = []

    def callback(conn, direction, version, content, message, data):
        if fail and message == either._TLSMessageType.NEWSESSION_TICKET:
            raise CallbackFailure(message)

    client_ctx._msg_callback = callback

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"!")
            tls.recv(1)

    server = serve(handler)
    with (
        server.connect() as raw,
        client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        fail.append(True)  # the tickets arrive with the first read
        with pytest.raises(CallbackFailure):
            tls.recv(1)
        tls.sendall(b".")
    server.join()
