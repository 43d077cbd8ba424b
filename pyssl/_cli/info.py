"""``python -m pyssl info``: what this pyssl runs on, and a loopback handshake."""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
from typing import Any

import pyssl
from pyssl._cli.selfsigned import write_self_signed

FEATURES = (
    "HAS_SNI",
    "HAS_ALPN",
    "HAS_NPN",
    "HAS_ECDH",
    "HAS_PSK",
    "HAS_NEVER_CHECK_COMMON_NAME",
    "HAS_SSLv2",
    "HAS_SSLv3",
    "HAS_TLSv1",
    "HAS_TLSv1_1",
    "HAS_TLSv1_2",
    "HAS_TLSv1_3",
)

# What pyssl adds beyond the stdlib (docs/additions.md), each with the flag
# that says whether the linked OpenSSL supports it (None: every OpenSSL
# pyssl builds with does). A flag this pyssl lacks counts as "no".
ADDITIONS = (
    ("verify_callback", "HAS_VERIFY_CALLBACK"),
    ("certs_from_memory", "HAS_CERTS_FROM_MEMORY"),
    ("ocsp_stapling", "HAS_OCSP_STAPLING"),
    ("keying_material_exporter", "HAS_KEYING_MATERIAL_EXPORTER"),
    ("early_data", "HAS_EARLY_DATA"),
    ("key_update", "HAS_KEY_UPDATE"),
    ("finished_messages", None),
    ("npn", "HAS_NPN"),
)


def additions() -> dict[str, bool]:
    """Each addition by name: whether this pyssl and its OpenSSL offer it."""
    return {
        name: flag is None or bool(getattr(pyssl, flag, False))
        for name, flag in ADDITIONS
    }


def loopback_handshake(alpn: tuple[str, ...] = ("h2", "http/1.1")) -> dict[str, Any]:
    """Connect a pyssl client to a pyssl server on 127.0.0.1 with a fresh
    self-signed certificate and full verification; report what was agreed."""
    with tempfile.TemporaryDirectory() as tmp:
        chain = write_self_signed(tmp, "ec", "localhost")
        server_ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(chain)
        server_ctx.set_alpn_protocols(alpn)
        client_ctx = pyssl.create_default_context(cafile=chain)
        client_ctx.set_alpn_protocols(alpn)
    listener = socket.create_server(("127.0.0.1", 0))
    server_error: list[BaseException] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(tls.recv(64))
        except BaseException as exc:
            server_error.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"ping")
                echoed = tls.recv(64)
                result = {
                    "version": tls.version(),
                    "cipher": tls.cipher(),
                    "alpn": tls.selected_alpn_protocol(),
                    "peer": dict(tls.getpeercert()["subject"][0]).get("commonName"),
                    "echo": echoed == b"ping",
                }
    finally:
        thread.join(10)
        listener.close()
    if server_error:
        raise server_error[0]
    return result


def main(argv: list[str] | None = None) -> int:
    print(f"pyssl {pyssl.__version__} on {pyssl.OPENSSL_VERSION}")
    major, minor, _fix, patch, _status = pyssl._OPENSSL_API_VERSION
    api = f"{major}.{minor}.{patch}"
    print(f"compiled against OpenSSL {api}; Python {sys.version.split()[0]}")
    print(
        "features: " + " ".join(f"{name}={getattr(pyssl, name)}" for name in FEATURES)
    )
    print(
        "additions: "
        + " ".join(
            f"{name}={'yes' if on else 'no'}" for name, on in additions().items()
        )
    )
    try:
        result = loopback_handshake()
    except Exception as exc:
        print(f"loopback handshake: FAILED: {type(exc).__name__}: {exc}")
        return 1
    name, _, bits = result["cipher"]
    print(
        f"loopback handshake on 127.0.0.1: {result['version']}, {name} ({bits}-bit), "
        f"ALPN {result['alpn']}, server certificate for {result['peer']!r} verified, "
        f"data {'echoed' if result['echo'] else 'NOT echoed'}"
    )
    return 0 if result["echo"] else 1
