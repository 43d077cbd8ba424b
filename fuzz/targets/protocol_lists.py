"""ALPN and NPN protocol lists from the API side: ``set_alpn_protocols``
and ``set_npn_protocols`` with lists of any strings, bytes and other
objects, then a handshake between a client and a server that set them.

ALPN is compared with the stdlib (the setters' outcome and the protocol
both ends selected). The stdlib does not negotiate NPN, so there the
selection is checked against the rule: the client picks the server's
first protocol it also offers, else its own first.

Input: a flags byte (bit 0: NPN instead of ALPN, bit 1: TLS 1.2), then
the client's list and the server's: a count, and per item a form byte
(str, bytes, bytearray, an int) and a chunk.
"""

from __future__ import annotations

import warnings

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


def protocols(reader: Reader) -> list:
    items: list = []
    for _ in range(reader.byte() % 6):
        form = reader.byte() % 4
        value = reader.chunk()
        items.append(
            [value.decode("utf-8", "replace"), value, bytearray(value), len(value)][
                form
            ]
        )
    return items


def contexts(module, client_list, server_list, npn: bool, tls12: bool):
    """(client, server, outcome of the setters) for ``module``."""
    client = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = module.CERT_NONE
    server = module.SSLContext(module.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(credentials()["chain"])
    if tls12:
        client.maximum_version = module.TLSVersion.TLSv1_2
    name = "set_npn_protocols" if npn else "set_alpn_protocols"

    def configure():
        getattr(client, name)(client_list)
        getattr(server, name)(server_list)

    if module is pyssl:
        # TypeError: documented for items that are not strings.
        result = outcome(configure, TypeError)
    else:
        result = reference(configure)
    return client, server, result


def wire(items: list) -> list[bytes]:
    return [
        item.encode("ascii") if isinstance(item, str) else bytes(item) for item in items
    ]


def TestOneInput(data: bytes) -> None:
    reader = Reader(data)
    flags = reader.byte()
    npn, tls12 = bool(flags & 1), bool(flags & 2)
    client_list, server_list = protocols(reader), protocols(reader)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # NPN is deprecated
        client_ctx, server_ctx, ours = contexts(
            pyssl, client_list, server_list, npn, tls12
        )
        if not npn and stdlib_ssl is not None:
            theirs = contexts(stdlib_ssl, client_list, server_list, npn, tls12)
            same("set_alpn_protocols", ours, theirs[2])
        if ours[0] == "raised":
            return
        client, server, client_result, server_result = handshake(
            pyssl, client_ctx, server_ctx
        )
        if client_result[0] == "raised" or server_result[0] == "raised":
            raise Finding(f"handshake failed: {client_result!r} {server_result!r}")
        offered, served = wire(client_list), wire(server_list)
        if npn:
            chosen = client.selected_npn_protocol()
            common = [p for p in served if p in offered]
            if served and offered and tls12:  # NPN is not part of TLS 1.3
                expected = (common or offered)[0].decode("latin-1")
            else:
                expected = None
            if chosen != expected or server.selected_npn_protocol() != expected:
                raise Finding(f"NPN chose {chosen!r}, not {expected!r}")
            return
        chosen = (client.selected_alpn_protocol(), server.selected_alpn_protocol())
        if stdlib_ssl is not None:
            std = handshake(stdlib_ssl, theirs[0], theirs[1])
            if kind(std[2]) != kind(client_result) or kind(std[3]) != kind(
                server_result
            ):
                raise Finding(
                    f"handshake: pyssl {client_result!r} {server_result!r}, the stdlib {std[2:]!r}"
                )
            theirs_chosen = (
                std[0].selected_alpn_protocol(),
                std[1].selected_alpn_protocol(),
            )
            if chosen != theirs_chosen:
                raise Finding(f"ALPN chose {chosen!r}, the stdlib {theirs_chosen!r}")


if __name__ == "__main__":
    run(TestOneInput)
