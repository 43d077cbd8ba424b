"""The record layer under attack: a pyssl client and a pyssl server talk
over MemoryBIOs, and every flight of bytes one side (the fuzzed side)
receives can be tampered with at any stage of the conversation: the
handshake, application data, session tickets, the closing alerts.

An input is read as (see ``_layout.Reader``):
  flags   bit 0 TLS 1.2 (else 1.3), bit 1 the server asks for a client
          certificate, bit 2 the client resumes a session, bit 3 ALPN on
          both sides, bit 4 a server SNI callback, bit 5 a message
          callback on the fuzzed side
  stage   which delivery to the fuzzed side is tampered with (0: its first)
  mode    0 replace it with the payload, 1 XOR the payload in at the
          offset, 2 cut it at the offset and end the stream (EOF), 3 insert
          the payload at the offset, 4 deliver it twice (replay), 5 deliver
          it in pieces (payload bytes are the sizes), 6 deliver nothing,
          end the stream, 7 drop it
  offset  2 bytes
  payload the rest

What must hold whatever the bytes:
  - only SSLError (and its subclasses) or ValueError comes out of pyssl;
    after a failure, the getters and further reads still give a clean
    result or a clean exception;
  - what a side reads is exactly a prefix of what its peer wrote: no
    injected byte ever surfaces as application data;
  - a client that completes the handshake saw the server's real
    certificate, and a server that asked for a client certificate saw the
    client's real one;
  - an untouched conversation (or one only cut into pieces) completes,
    and every byte arrives.
"""

from __future__ import annotations

import sys

import trustme
from _harness import Finding, pyssl, scratch_file
from _layout import Reader

EXPECTED = (pyssl.SSLError, ValueError)
WAIT = object()  # a step that needs more input
# What callbacks found wrong: they cannot raise it through OpenSSL.
FINDINGS: list[Finding] = []
MESSAGES = {
    "client": b"client says: GET / HTTP/1.1\r\n\r\n",
    "server": b"server says: 200 OK",
}

_ca = trustme.CA()
_server_cert = _ca.issue_cert("localhost")
_client_cert = _ca.issue_cert("client@example.org")
CHAINS = {
    side: scratch_file(f"{side}.pem", cert.private_key_and_cert_chain_pem.bytes())
    for side, cert in (("server", _server_cert), ("client", _client_cert))
}


def _context(server: bool, tls12: bool, client_auth: bool, alpn: bool, sni: bool):
    ctx = pyssl.SSLContext(
        pyssl.PROTOCOL_TLS_SERVER if server else pyssl.PROTOCOL_TLS_CLIENT
    )
    ctx.load_verify_locations(cadata=_ca.cert_pem.bytes().decode("ascii"))
    ctx.load_cert_chain(CHAINS["server" if server else "client"])
    if tls12:
        ctx.maximum_version = pyssl.TLSVersion.TLSv1_2
    if server and client_auth:
        ctx.verify_mode = pyssl.CERT_REQUIRED
    if alpn:
        ctx.set_alpn_protocols(["h2", "http/1.1"] if server else ["http/1.1", "h2"])
    if server and sni:
        ctx.sni_callback = _note_server_name
    return ctx


def _note_server_name(sslobj, name, ctx):
    if name is not None and not isinstance(name, str):
        FINDINGS.append(Finding(f"the SNI callback got {name!r}"))


def _note_message(conn, direction, version, content_type, msg_type, data):
    if direction not in ("read", "write") or type(data) is not bytes:
        FINDINGS.append(Finding(f"the message callback got {direction!r} {data!r}"))


# Every combination of the first five flags, made once.
CONTEXTS = {
    flags: (
        _context(False, bool(flags & 1), bool(flags & 2), bool(flags & 8), False),
        _context(
            True, bool(flags & 1), bool(flags & 2), bool(flags & 8), bool(flags & 16)
        ),
    )
    for flags in range(32)
}
MESSAGE_CONTEXTS = {
    side: {
        flags: _context(side == "server", bool(flags & 1), bool(flags & 2), bool(flags & 8),
                        side == "server" and bool(flags & 16))
        for flags in range(32)
    }
    for side in ("client", "server")
}  # fmt: skip
for by_flags in MESSAGE_CONTEXTS.values():
    for ctx in by_flags.values():
        ctx._msg_callback = _note_message


class Side:
    """One end of the conversation and what it saw."""

    def __init__(
        self, name: str, obj, incoming: pyssl.MemoryBIO, outgoing: pyssl.MemoryBIO
    ):
        self.name = name
        self.obj = obj
        self.incoming = incoming
        self.outgoing = outgoing
        self.done = False  # handshake complete
        self.failed: BaseException | None = None
        self.read = b""
        self.wrote = b""
        self.closed = False
        self.ended = False  # EOF written to its incoming BIO

    def act(self, action):
        """Run one step: its result, or WAIT; a documented exception other
        than a clean close ends this side."""
        if self.failed is not None:
            return WAIT
        try:
            return action()
        except pyssl.SSLWantReadError:
            return WAIT
        except pyssl.SSLZeroReturnError:
            self.closed = True
            return WAIT
        except EXPECTED as exc:
            self.failed = exc
            return WAIT

    def step(self) -> None:
        if not self.done:
            if self.act(self.obj.do_handshake) is WAIT:
                return
            self.done = True
        while not self.closed:
            data = self.act(lambda: self.obj.read(4096))
            if data is WAIT:
                break
            if not data:  # the peer closed cleanly
                self.closed = True
                break
            self.read += data


_sessions: dict[tuple[int, int], pyssl.SSLSession] = {}


def session_for(client_ctx, server_ctx) -> pyssl.SSLSession:
    """A session of ``client_ctx`` with ``server_ctx`` to resume."""
    key = (id(client_ctx), id(server_ctx))
    if key not in _sessions:
        client, server = _pair(client_ctx, server_ctx, None)
        for _ in range(4):
            for side in (client, server):
                side.step()
            _move(client, server)
            _move(server, client)
        client.obj.write(b"x")  # a TLS 1.3 ticket comes with the answer
        _move(client, server)
        server.step()
        server.obj.write(b"y")
        _move(server, client)
        client.step()
        if client.failed or server.failed or not client.obj.session:
            raise RuntimeError(
                f"no session to resume: {client.failed!r} {server.failed!r}"
            )
        _sessions[key] = client.obj.session
    return _sessions[key]


def _pair(client_ctx, server_ctx, session):
    bios = [pyssl.MemoryBIO() for _ in range(4)]
    client = Side(
        "client",
        client_ctx.wrap_bio(
            bios[0], bios[1], server_hostname="localhost", session=session
        ),
        bios[0],
        bios[1],
    )
    server = Side(
        "server",
        server_ctx.wrap_bio(bios[2], bios[3], server_side=True),
        bios[2],
        bios[3],
    )
    return client, server


def _move(source: Side, target: Side, tamper=None) -> bool:
    data = source.outgoing.read()
    if not data:
        return False
    if target.ended:
        return True  # the stream was ended: the rest is lost
    if tamper is None:
        target.incoming.write(data)
    else:
        tamper(data, target)
    return True


EXPECTED_PEERS = {
    side: pyssl._ssl._test_decode_cert(
        scratch_file(f"{side}-peer.pem", cert.cert_chain_pems[0].bytes())
    )
    for side, cert in (("client", _server_cert), ("server", _client_cert))
}


def _tamper(mode: int, offset: int, payload: bytes):
    """What happens to the chosen flight; returns (function, whether the
    conversation must still succeed)."""

    def tamper(data: bytes, target: Side) -> None:
        bio = target.incoming
        at = offset % (len(data) + 1)
        if mode == 0:
            bio.write(payload)
        elif mode == 1:
            mixed = bytearray(data)
            for i, b in enumerate(payload):
                if at + i < len(mixed):
                    mixed[at + i] ^= b
            bio.write(bytes(mixed))
        elif mode == 2:
            bio.write(data[:at])
            bio.write_eof()
            target.ended = True
        elif mode == 3:
            bio.write(data[:at] + payload + data[at:])
        elif mode == 4:
            bio.write(data + data)
        elif mode == 5:
            sizes = [1 + b for b in payload] or [1]
            start = i = 0
            while start < len(data):
                end = start + sizes[i % len(sizes)]
                bio.write(data[start:end])
                start, i = end, i + 1
        elif mode == 6:
            bio.write_eof()
            target.ended = True
        # mode 7: dropped

    harmless = (
        mode == 5 or (mode == 1 and not any(payload)) or (mode == 3 and not payload)
    )
    return tamper, harmless


def _inspect(side: Side) -> None:
    """The getters and another read after whatever happened: each gives a
    value or a documented exception."""
    obj = side.obj
    for getter in (
        obj.version,
        obj.cipher,
        obj.shared_ciphers,
        obj.compression,
        obj.pending,
        obj.selected_alpn_protocol,
        lambda: obj.getpeercert(),
        lambda: obj.getpeercert(True),
        lambda: obj.get_channel_binding("tls-unique"),
        lambda: obj.session,
        lambda: obj.session_reused,
        obj.get_unverified_chain,
    ):
        try:
            getter()
        except EXPECTED:
            pass
    if side.failed is not None:
        try:
            data = obj.read(10)
        except EXPECTED:
            return
        if data:
            raise Finding(f"{side.name} read {data!r} after {side.failed!r}")


def converse(data: bytes, fuzzed_name: str) -> None:
    reader = Reader(data)
    flags, stage, mode, offset = (
        reader.byte(),
        reader.byte(),
        reader.byte() % 8,
        reader.number(),
    )
    payload = reader.rest()
    client_ctx, server_ctx = CONTEXTS[flags & 31]
    if flags & 32:
        if fuzzed_name == "client":
            client_ctx = MESSAGE_CONTEXTS["client"][flags & 31]
        else:
            server_ctx = MESSAGE_CONTEXTS["server"][flags & 31]
    session = session_for(client_ctx, server_ctx) if flags & 4 else None
    client, server = _pair(client_ctx, server_ctx, session)
    fuzzed, honest = (client, server) if fuzzed_name == "client" else (server, client)
    tamper, harmless = _tamper(mode, offset, payload)
    deliveries = 0
    tampered = False

    def to_fuzzed() -> bool:
        nonlocal deliveries, tampered
        if honest.outgoing.pending == 0:
            return False
        use = None
        if deliveries == stage:
            use, tampered = tamper, True
        deliveries += 1
        return _move(honest, fuzzed, use)

    sent_data = False
    unwrapped = False
    for _ in range(16):
        for side in (client, server):
            side.step()
        if client.done and server.done and not sent_data:
            sent_data = True
            for side in (client, server):
                if side.act(lambda s=side: s.obj.write(MESSAGES[s.name])) is not WAIT:
                    side.wrote += MESSAGES[side.name]
        elif sent_data and not unwrapped and client.read and server.read:
            unwrapped = True
            for side in (client, server):
                side.act(side.obj.unwrap)
        moved = _move(fuzzed, honest)
        moved = to_fuzzed() or moved
        if not moved and (
            client.failed or server.failed or (unwrapped and client.closed)
        ):
            break

    for side, peer in ((client, server), (server, client)):
        if not peer.wrote.startswith(side.read):
            raise Finding(
                f"{side.name} read {side.read!r}, its peer wrote {peer.wrote!r}"
            )
    for side in (client, server):
        if side.done and side.failed is None:
            if side.name == "client" or flags & 2:
                cert = side.obj.getpeercert()
                if cert != EXPECTED_PEERS[side.name]:
                    raise Finding(
                        f"{side.name} completed the handshake with the peer {cert!r}"
                    )
    if not tampered or harmless:
        for side in (client, server):
            if (
                side.failed is not None
                or side.read != MESSAGES["server" if side is client else "client"]
            ):
                raise Finding(
                    f"an untouched conversation failed: {side.name} {side.failed!r} "
                    f"read {side.read!r}"
                )
    for side in (client, server):
        _inspect(side)
    if FINDINGS:
        found = FINDINGS[:]
        FINDINGS.clear()
        raise found[0]


def check_unraisable(hook_args) -> None:
    """Callbacks pyssl reports through sys.unraisablehook: only a server
    name that is not ASCII (refused, as the stdlib refuses it)."""
    if not isinstance(hook_args.exc_value, UnicodeDecodeError):
        sys.__unraisablehook__(hook_args)
        raise Finding(f"unexpected unraisable exception {hook_args.exc_value!r}")
