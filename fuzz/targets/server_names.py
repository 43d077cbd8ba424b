"""Server names from the API side: ``wrap_bio(server_hostname=...)`` with
any string, bytes or other object, with and without ``check_hostname``,
then a handshake with a server whose certificate names localhost,
127.0.0.1 and an IDN. Compared with the stdlib: whether the name is
taken, the ``server_hostname`` it becomes, the name the server's SNI
callback receives, and the handshake's outcome (with the verify code of a
refused certificate).

pyssl differs from the stdlib on purpose for a name that OpenSSL's address
parser (which the stdlib asks) reads as an IP address but that is not
exactly one, such as '127.0.0.1\tO' or '0127.0.0.1': pyssl takes it as a
host name, so it must not verify against the certificate's address.

Input: a flags byte (bit 0 check_hostname, bits 1-2 the form: str,
bytes, bytearray, an int; bit 3 TLS 1.2) and the name as the rest.
"""

from __future__ import annotations

import ipaddress

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
    made = (
        outcome(wrap, TypeError, AttributeError) if module is pyssl else reference(wrap)
    )
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


# X509_V_ERR_HOSTNAME_MISMATCH
HOSTNAME_MISMATCH = 62
# RFC 6066 3: a host name in SNI is at most 255 bytes; longer ones are refused.
LONGEST_SNI = 255


def exact_address(text: str) -> bool:
    """Whether ``text`` is exactly an IP address, the only server_hostname
    pyssl matches against a certificate's addresses."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return "%" not in text  # a zone, which no certificate names


def taken_as_host_name(name, made, ours, theirs, check_hostname: bool) -> None:
    """pyssl's outcome for a name the stdlib took as an address and pyssl
    as a host name (``theirs[0]``, the stdlib's server_hostname): what a
    host name gets, SNI sent and, with check_hostname, a hostname mismatch
    (the certificate's DNS names are no address)."""
    text = theirs[0]
    if made[0] == "raised":
        # Refused as any host name too long for SNI is, with the stdlib too.
        if len(text) > LONGEST_SNI:
            return
        raise Finding(f"server_hostname={name!r} refused: {made[1]!r}")
    if check_hostname:
        refused = ("raised", "SSLCertVerificationError"), ("raised", "SSLError")
        expected = (text, *refused, HOSTNAME_MISMATCH, [text])
    else:
        expected = (text, *theirs[1:4], [text])
    if ours != expected:
        raise Finding(
            f"server_hostname={name!r} as a host name: pyssl {ours!r}, not {expected!r}"
        )


def TestOneInput(data: bytes) -> None:
    reader = Reader(data)
    flags = reader.byte()
    raw = reader.rest()
    name = [raw.decode("utf-8", "replace"), raw, bytearray(raw), len(raw)][
        (flags >> 1) & 3
    ]
    check_hostname, tls12 = bool(flags & 1), bool(flags & 8)
    made, ours = conversation(pyssl, name, check_hostname, tls12)
    if made[0] == "returned" and ours[1] == ("returned", None) and check_hostname:
        # Verified: the name must be one the certificate carries.
        accepted = ours[0].rstrip(".").lower()
        if accepted not in ("localhost", "127.0.0.1", "xn--bcher-kva.example"):
            raise Finding(f"check_hostname accepted {name!r} ({ours[0]!r})")
    if stdlib_ssl is not None:
        their_made, theirs = conversation(stdlib_ssl, name, check_hostname, tls12)
        # The stdlib sends no SNI for a name it takes as an address.
        if (
            theirs is not None
            and theirs[4] == [None]
            and isinstance(theirs[0], str)
            and not exact_address(theirs[0])
        ):
            taken_as_host_name(name, made, ours, theirs, check_hostname)
            return
        same("wrap_bio(server_hostname=...)", made, their_made)
        if ours != theirs:
            raise Finding(
                f"with server_hostname={name!r}: pyssl {ours!r}, the stdlib {theirs!r}"
            )


if __name__ == "__main__":
    run(TestOneInput)
