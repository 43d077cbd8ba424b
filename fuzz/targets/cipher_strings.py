"""Cipher strings and curve names from the API side: ``set_ciphers`` with
any string (then ``get_ciphers()``, and a TLS 1.2 handshake with a server
that keeps its defaults) and ``set_ecdh_curve`` with any name, compared
with the stdlib on the same input.

Input: a flags byte (bit 0 the string goes to set_ecdh_curve instead,
bit 1 as bytes, bit 2 no handshake) and the string as the rest.
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
    stdlib_ssl,
)


def attempt(module, flags: int, value):
    client = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(credentials()["ca"])
    client.maximum_version = module.TLSVersion.TLSv1_2
    setter = client.set_ecdh_curve if flags & 1 else client.set_ciphers
    action = lambda: setter(value)  # noqa: E731
    # TypeError: documented for a value of the wrong type.
    result = outcome(action, TypeError) if module is pyssl else reference(action)
    if result[0] == "raised":
        return kind(result), None
    ciphers = [c["name"] for c in client.get_ciphers()]
    if flags & 4:
        return kind(result), (ciphers,)
    server = module.SSLContext(module.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(credentials()["chain"])
    tls, _, client_result, server_result = handshake(
        module, client, server, server_hostname="localhost"
    )
    cipher = tls.cipher()
    return kind(result), (ciphers, kind(client_result), kind(server_result), cipher)


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    flags, raw = data[0], data[1:]
    value = raw if flags & 2 else raw.decode("utf-8", "replace")
    ours = attempt(pyssl, flags, value)
    if ours[1] is not None and len(ours[1]) > 1:
        chosen = ours[1][3]
        if chosen is not None and chosen[0] not in ours[1][0]:
            raise Finding(f"the handshake chose {chosen!r}, not among {ours[1][0]!r}")
    if stdlib_ssl is not None:
        theirs = attempt(stdlib_ssl, flags, value)
        if ours != theirs:
            raise Finding(f"with {value!r}: pyssl {ours!r}, the stdlib {theirs!r}")


if __name__ == "__main__":
    run(TestOneInput)
