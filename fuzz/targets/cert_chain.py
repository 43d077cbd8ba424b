"""Keys and certificate chains from outside: ``load_cert_chain`` on
hostile files, and with passwords of every kind the API takes, compared
with the stdlib on the same input.

The first byte picks the case:
  0  the certificate file is the rest of the input (its key in it too);
  1  a good certificate with the rest of the input as the key file;
  2  two chunks: certificate file and key file;
  3  a good certificate and its encrypted key (PKCS#8 when the byte's high
     bit is clear, else OpenSSL's traditional format), with a password
     made from the rest: a form byte (str, bytes, bytearray, a callable
     returning str or bytes, a callable that raises, a callable returning
     a number, a number) and a chunk for its value.
"""

from __future__ import annotations

import trustme
from _harness import (
    Finding,
    kind,
    outcome,
    pyssl,
    reference,
    run,
    same,
    scratch_file,
    stdlib_ssl,
)
from _layout import Reader
from cryptography.hazmat.primitives import serialization

PASSWORD = b"fuzz password"
_leaf = trustme.CA().issue_cert("localhost")
_key = serialization.load_pem_private_key(_leaf.private_key_pem.bytes(), None)
CERT = scratch_file("good-cert.pem", _leaf.cert_chain_pems[0].bytes())
ENCRYPTED = [
    scratch_file(
        f"encrypted-{number}.pem",
        _key.private_bytes(
            serialization.Encoding.PEM,
            fmt,
            serialization.BestAvailableEncryption(PASSWORD),
        ),
    )
    for number, fmt in enumerate(
        (
            serialization.PrivateFormat.PKCS8,
            serialization.PrivateFormat.TraditionalOpenSSL,
        )
    )
]
del _key
# HMAC's block size: PBKDF2-HMAC-SHA256, which encrypts the PKCS#8 key.
_HMAC_BLOCK = 64


def opens(meant: bytes | None, pkcs8: bool) -> bool:
    """Whether the password bytes ``meant`` decrypt the key. PKCS#8 keys
    are encrypted under PBKDF2 with HMAC, which pads a key (the password)
    with zero bytes to its block size: the password followed by zero bytes
    opens them too, with OpenSSL and so with the stdlib and pyssl alike.
    The traditional format (EVP_BytesToKey) takes the password alone."""
    if meant == PASSWORD:
        return True
    return (
        pkcs8 and meant is not None and len(meant) <= _HMAC_BLOCK
        and meant.rstrip(b"\0") == PASSWORD
    )  # fmt: skip


class Refused(Exception):
    """What a password callable raises: load_cert_chain raises it as it is."""


def _raise_refused() -> None:
    raise Refused


def password_from(reader: Reader) -> tuple[object, bytes | None]:
    """(the password argument, the bytes it stands for, or None)."""
    form = reader.byte() % 8
    value = reader.chunk()
    text = value.decode("utf-8", "replace")
    options = [
        (text, text.encode()),
        (value, value),
        (bytearray(value), value),
        (lambda: text, text.encode()),
        (lambda: value, value),
        (_raise_refused, None),
        (lambda: len(value), None),
        (len(value), None),
    ]
    return options[form]


def load(module, certfile, keyfile=None, password=None):
    ctx = module.SSLContext(module.PROTOCOL_TLS_SERVER)
    action = lambda: ctx.load_cert_chain(certfile, keyfile, password)  # noqa: E731
    if module is pyssl:
        # TypeError: documented for a password of the wrong type.
        return outcome(action, TypeError, Refused)
    return reference(action)


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    case, reader = data[0] % 4, Reader(data[1:])
    password, meant = None, None
    if case == 0:
        certfile, keyfile = scratch_file("cert.pem", reader.rest()), None
    elif case == 1:
        certfile, keyfile = CERT, scratch_file("key.pem", reader.rest())
    elif case == 2:
        certfile = scratch_file("cert.pem", reader.chunk())
        keyfile = scratch_file("key.pem", reader.chunk())
    else:
        certfile, keyfile = CERT, ENCRYPTED[data[0] >> 7]
        password, meant = password_from(reader)
    ours = load(pyssl, certfile, keyfile, password)
    if case == 3:
        if password is _raise_refused and not isinstance(ours[1], Refused):
            raise Finding(
                f"the password callable raised Refused, load_cert_chain {ours!r}"
            )
        accepted = ours[0] == "returned"
        if accepted != opens(meant, pkcs8=data[0] >> 7 == 0):
            raise Finding(f"password {password!r}: {ours!r}")
    if stdlib_ssl is not None:
        theirs = load(stdlib_ssl, certfile, keyfile, password)
        same("load_cert_chain", ours, theirs)
        if (
            kind(ours) == ("raised", "SSLError")
            and ours[1].args[:1] != theirs[1].args[:1]
        ):
            raise Finding(
                f"SSLError numbers differ: pyssl {ours!r}, the stdlib {theirs!r}"
            )


if __name__ == "__main__":
    run(TestOneInput)
