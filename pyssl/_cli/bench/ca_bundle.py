"""Workloads of loading CA certificates: the system's bundle, as
``create_default_context()``, ``load_verify_locations()`` and urllib's
``urlopen()`` (a new default context per request) load it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from pyssl._cli.bench.peers import Files, Server, timed

# ---- CA certificates ------------------------------------------------------------


SYSTEM_CA_BUNDLE = "the system's CA bundle"


def system_ca_bundle() -> str | None:
    """The file of CA certificates a default context loads, if there is one:
    SSL_CERT_FILE's, or else OpenSSL's default file (a wheel's OpenSSL may
    look for it where this system keeps none)."""
    import pyssl

    path = pyssl.get_default_verify_paths().cafile
    return path if path is not None and os.path.isfile(path) else None


def microseconds_per_call(
    seconds: float,
    call: Callable[[Any], Any],
    prepare: Callable[[], Any] = lambda: None,
) -> float:
    """Time ``call(prepare())`` alone, repeated for about ``seconds``;
    microseconds per call. What ``call`` returns is dropped inside the
    timing: freeing a context is part of its cost."""
    calls = 0
    spent = 0.0
    deadline = time.perf_counter() + seconds
    while calls == 0 or time.perf_counter() < deadline:
        argument = prepare()
        start = time.perf_counter()
        call(argument)
        spent += time.perf_counter() - start
        calls += 1
        del argument
    return spent / calls * 1e6


def default_context_warm(ssl: Any, files: Files, seconds: float) -> float:
    ssl.create_default_context()
    return microseconds_per_call(seconds, lambda _: ssl.create_default_context())


def default_context_first(ssl: Any, files: Files, seconds: float) -> float:
    # Each measurement is a fresh process (child.py): this call is the
    # first of the process, whatever ``seconds`` says.
    start = time.perf_counter()
    ssl.create_default_context()
    return (time.perf_counter() - start) * 1e3


def load_bundle_warm(ssl: Any, files: Files, seconds: float) -> float:
    bundle = system_ca_bundle()
    ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=bundle)
    return microseconds_per_call(
        seconds,
        lambda ctx: ctx.load_verify_locations(cafile=bundle),
        prepare=lambda: ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
    )


def urlopen_local_server(ssl: Any, files: Files, seconds: float) -> float:
    """``urllib.request.urlopen()`` of a local HTTPS server: urllib makes a
    new default context for each request. The server's certificate is
    trusted through SSL_CERT_FILE: the system bundle plus that certificate,
    which every default context then loads."""
    import tempfile
    import urllib.request

    bundle = system_ca_bundle()
    assert bundle is not None
    with open(files.ec, "rb") as f:
        chain = f.read()
    certificate = chain[chain.index(b"-----BEGIN CERTIFICATE-----") :]
    with tempfile.NamedTemporaryFile(suffix=".pem", delete=False) as trusted:
        with open(bundle, "rb") as f:
            trusted.write(f.read().rstrip(b"\n") + b"\n" + certificate)
    os.environ["SSL_CERT_FILE"] = trusted.name
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.ec)
    body = b"ok"
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        % len(body)
        + body
    )

    def serve(tls: Any) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            data = tls.recv(4096)
            if not data:
                return
            request += data
        tls.sendall(response)

    server = Server(ssl, server_ctx, serve)
    url = f"https://localhost:{server.address[1]}/"

    def one() -> int:
        with urllib.request.urlopen(url, timeout=30) as reply:
            if reply.read() != body:
                raise RuntimeError("the server's answer came back wrong")
        return 1

    try:
        one()
        return timed(seconds, one)
    finally:
        server.close()
        os.unlink(trusted.name)
