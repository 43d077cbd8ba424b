"""Server names from the API side: ``wrap_bio(server_hostname=...)`` with
any string, bytes or other object, with and without ``check_hostname``,
then a handshake with a server whose certificate names localhost,
127.0.0.1 and an IDN. Compared with the stdlib: whether the name is
taken, the ``server_hostname`` it becomes, the name the server's SNI
callback receives, and the handshake's outcome (with the verify code of a
refused certificate).

Input: a flags byte (bit 0 check_hostname, bits 1-2 the form: str,
bytes, bytearray, an int; bit 3 TLS 1.2) and the name as the rest.
"""

from __future__ import annotations

from _harness import (
    Finding,
    credentials,
    handshake,
    kind,
    outcome,
    pyssl,
    reference,
    run,
    same,
    stdlib_ssl,
)
from _layout import Reader


def contexts(module, check_hostname: bool, tls12: bool):
    files = credentials()
    client = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(files["ca"])
    client.check_hostname = check_hostname
    if tls12:
        client.maximum_version = module.TLSVersion.TLSv1_2
    server = module.SSLContext(module.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files["chain"])
    seen: list = []
    server.sni_callback = lambda obj, name, ctx: seen.append(name)
    return client, server, seen


def conversation(module, name, check_hostname: bool, tls12: bool):
    client_ctx, server_ctx, seen = contexts(module, check_hostname, tls12)
    bios = (module.MemoryBIO(), module.MemoryBIO())
    wrap = lambda: client_ctx.wrap_bio(*bios, server_hostname=name)  # noqa: E731
    # TypeError: documented for a name that is not str or bytes; the
    # stdlib's SSLContext raises AttributeError for an object without
    # decode() (an int), and pyssl does as the stdlib does.
    made = outcome(wrap, TypeError, AttributeError) if module is pyssl else reference(wrap)
    if made[0] == "raised":
        return made, None
    made = ("returned", None)  # the objects are compared by what they do
    result = handshake(module, client_ctx, server_ctx, server_hostname=name)
    client, _server, client_result, server_result = result
    failure = client_result[1]
    return made, (
        client.server_hostname,
        kind(client_result),
        kind(server_result),
        getattr(failure, "verify_code", None),
        seen,
    )


def TestOneInput(data: bytes) -> None:
    reader = Reader(data)
    flags = reader.byte()
    raw = reader.rest()
    name = [raw.decode("utf-8", "replace"), raw, bytearray(raw), len(raw)][(flags >> 1) & 3]
    check_hostname, tls12 = bool(flags & 1), bool(flags & 8)
    made, ours = conversation(pyssl, name, check_hostname, tls12)
    if made[0] == "returned" and ours[1] == ("returned", None) and check_hostname:
        # Verified: the name must be one the certificate carries.
        accepted = ours[0].rstrip(".").lower()
        if accepted not in ("localhost", "127.0.0.1", "xn--bcher-kva.example"):
            raise Finding(f"check_hostname accepted {name!r} ({ours[0]!r})")
    if stdlib_ssl is not None:
        their_made, theirs = conversation(stdlib_ssl, name, check_hostname, tls12)
        same("wrap_bio(server_hostname=...)", made, their_made)
        if ours != theirs:
            raise Finding(f"with server_hostname={name!r}: pyssl {ours!r}, the stdlib {theirs!r}")


if __name__ == "__main__":
    run(TestOneInput)
