"""Asynchronous HTTP and WebSocket libraries with both ends in one
interpreter: httpx against hypercorn (HTTP/1.1 and HTTP/2 over ALPN),
aiohttp's client against aiohttp.web, and websockets' client against its
server. Run as ``injected_driver.py`` is (same SETUP words), with these
libraries as the ones imported before the injection.
"""

import sys

if __name__ == "__main__" and "block" in sys.argv[1].split("+"):
    sys.modules["_ssl"] = None

import hashlib  # noqa: E402  (none of these imports ssl)
import json  # noqa: E402
import socket  # noqa: E402

import injected_driver  # noqa: E402
from client_facts import kind, registry, tls_of  # noqa: E402
from injected_driver import TIMEOUT, asyncio_run, payload, tls_failure  # noqa: E402

SCENARIOS, scenario = registry()
PRELOAD = [
    "asyncio",
    "asyncio.sslproto",
    "httpx",
    "httpcore",
    "anyio",
    "h2.connection",
    "hypercorn.asyncio",
    "hypercorn.config",
    "aiohttp",
    "aiohttp.web",
    "websockets.asyncio.client",
    "websockets.asyncio.server",
]
CHUNK = 16 << 10


def _digest(data):
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


# ---- httpx against hypercorn ------------------------------------------------------


def _asgi_app(size):
    """An ASGI application that answers any GET with ``size`` bytes of
    payload, sent in CHUNK-sized parts (more than one HTTP/2 flow-control
    window in all), and the HTTP version it saw in a header."""
    data = payload(size)

    async def app(scope, receive, send):
        while scope["type"] == "lifespan":
            phase = (await receive())["type"].split(".")[1]  # startup, then shutdown
            await send({"type": f"lifespan.{phase}.complete"})
            if phase == "shutdown":
                return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"x-seen-http-version", scope["http_version"].encode()),
                    (b"x-seen-path", scope["path"].encode()),
                ],
            }
        )
        for start in range(0, size, CHUNK):
            await send(
                {
                    "type": "http.response.body",
                    "body": data[start : start + CHUNK],
                    "more_body": start + CHUNK < size,
                }
            )

    return app


def _hypercorn_config(server_chain, made):
    """A hypercorn Config for TLS with the test certificate; the contexts
    hypercorn makes from it (through the ssl module it imported) are noted
    in ``made``."""
    from hypercorn.config import Config

    class NotingConfig(Config):
        def create_ssl_context(self):
            context = super().create_ssl_context()
            made.append(context)
            return context

    config = NotingConfig()
    config.certfile = config.keyfile = server_chain
    config.alpn_protocols = ["h2", "http/1.1"]
    config.errorlog = config.accesslog = None
    return config


def _httpx_sync_get(url, context, http2):
    import httpx

    with httpx.Client(verify=context, http2=http2, timeout=TIMEOUT) as client:
        with client.stream("GET", url) as response:
            facts = tls_of(
                response.extensions["network_stream"].get_extra_info("socket")
            )
            body = response.read()
    return response, body, facts


async def _httpx_async_get(url, context, http2):
    import httpx

    async with httpx.AsyncClient(
        verify=context, http2=http2, timeout=TIMEOUT
    ) as client:
        async with client.stream("GET", url) as response:
            facts = tls_of(
                response.extensions["network_stream"].get_extra_info("ssl_object")
            )
            body = await response.aread()
    return response, body, facts


@scenario
def httpx_get(client, http2, ca, server_chain, size):
    """GET from hypercorn with httpx's Client (in a thread: an SSLSocket)
    or AsyncClient (an SSLObject on the event loop), offering HTTP/2 or
    not; ``ca`` verifies the server."""
    import asyncio

    from hypercorn.asyncio import serve

    async def main(server_ctx, client_ctx):
        made = []
        config = _hypercorn_config(server_chain, made)
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        # hypercorn serves the listening socket by its descriptor and
        # closes it when it stops.
        config.bind = [f"fd://{listener.detach()}"]
        stop = asyncio.Event()
        serving = asyncio.ensure_future(
            serve(_asgi_app(size), config, shutdown_trigger=stop.wait)
        )
        url = f"https://localhost:{port}/get"
        try:
            while not made:  # hypercorn makes its context before it listens
                await asyncio.sleep(0.01)
            if client == "httpx.Client":
                get = asyncio.get_running_loop().run_in_executor(
                    None, _httpx_sync_get, url, client_ctx, http2
                )
            else:
                get = _httpx_async_get(url, client_ctx, http2)
            try:
                response, body, facts = await get
            except Exception as exc:
                return tls_failure(exc)
        finally:
            stop.set()
            await serving
        return {
            "status": response.status_code,
            "http_version": response.http_version,
            "server saw": {
                "http_version": response.headers["x-seen-http-version"],
                "path": response.headers["x-seen-path"],
            },
            "body": _digest(body),
            "client": facts,
            "server contexts": [kind(context) for context in made],
        }

    return asyncio_run(ca, server_chain, main)


# ---- aiohttp ------------------------------------------------------------------------


@scenario
def aiohttp_get(ca, server_chain, size):
    """aiohttp's ClientSession against aiohttp.web: a GET answered with
    what the server saw of the connection, then a GET whose ``size``-byte
    answer the server streams in parts (chunked) and the client reads as
    they come."""
    import aiohttp
    from aiohttp import web

    data = payload(size)

    async def facts(request):
        return web.json_response(
            {
                "path": request.path_qs,
                **tls_of(request.transport.get_extra_info("ssl_object")),
            }
        )

    async def stream(request):
        response = web.StreamResponse(
            headers={"Content-Type": "application/octet-stream"}
        )
        await response.prepare(request)
        for start in range(0, size, CHUNK):
            await response.write(data[start : start + CHUNK])
        await response.write_eof()
        return response

    async def main(server_ctx, client_ctx):
        app = web.Application()
        app.router.add_get("/facts", facts)
        app.router.add_get("/stream", stream)
        runner = web.AppRunner(app)
        await runner.setup()
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        # The site's server owns the socket from here: it closes it.
        await web.SockSite(runner, listener, ssl_context=server_ctx).start()
        try:
            async with aiohttp.ClientSession() as session:
                try:
                    async with session.get(
                        f"https://localhost:{port}/facts?q=1", ssl=client_ctx
                    ) as response:
                        server = await response.json()
                except aiohttp.ClientConnectorCertificateError as exc:
                    # Its classes derive from the ssl module's that aiohttp
                    # imported; the error OpenSSL's verification raised is
                    # the one it carries.
                    return {**tls_failure(exc.certificate_error), "raised": kind(exc)}
                async with session.get(
                    f"https://localhost:{port}/stream", ssl=client_ctx
                ) as response:
                    # The connection is the response's until its body is
                    # read (the first answer was read whole on arrival).
                    client = tls_of(
                        response.connection.transport.get_extra_info("ssl_object")
                    )
                    parts, received = 0, bytearray()
                    async for part in response.content.iter_any():
                        parts += 1
                        received += part
                    streamed = {
                        "status": response.status,
                        "transfer-encoding": response.headers.get("Transfer-Encoding"),
                        "body": _digest(bytes(received)),
                        "parts": parts,
                    }
        finally:
            await runner.cleanup()
        return {"client": client, "server": server, "stream": streamed}

    return asyncio_run(ca, server_chain, main)


# ---- websockets ---------------------------------------------------------------------


def _describe(message):
    return [
        type(message).__name__,
        len(message),
        hashlib.sha256(
            message.encode() if isinstance(message, str) else message
        ).hexdigest(),
    ]


@scenario
def websockets_echo(ca, server_chain, messages):
    """websockets' asyncio client and server over wss://: the client sends
    ``messages`` (text, and bytes given as {"bytes": size}), the server
    echoes each; what each end saw of its connection."""
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    outgoing = [payload(m["bytes"]) if isinstance(m, dict) else m for m in messages]

    async def main(server_ctx, client_ctx):
        served, transports = [], []

        async def echo(connection):
            transports.append(connection.transport)
            served.append(
                {
                    "path": connection.request.path,
                    **tls_of(connection.transport.get_extra_info("ssl_object")),
                }
            )
            async for message in connection:
                await connection.send(message)

        async with serve(echo, "127.0.0.1", 0, ssl=server_ctx) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            try:
                async with connect(
                    f"wss://localhost:{port}/echo", ssl=client_ctx
                ) as websocket:
                    transports.append(websocket.transport)
                    client = tls_of(websocket.transport.get_extra_info("ssl_object"))
                    echoed = []
                    for message in outgoing:
                        await websocket.send(message)
                        echoed.append(await websocket.recv())
            except Exception as exc:
                return tls_failure(exc)
        # The end whose peer closed the connection first never closes its
        # transport, and CPython 3.10's SSL transport counts itself open
        # (a ResourceWarning) until close() is called, whatever the ssl.
        for transport in transports:
            transport.close()
        return {
            "sent": [_describe(m) for m in outgoing],
            "echoed": [_describe(m) for m in echoed],
            "client": client,
            "server": served,
        }

    return asyncio_run(ca, server_chain, main)


if __name__ == "__main__":
    injected_driver.main(
        sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), SCENARIOS, PRELOAD
    )
