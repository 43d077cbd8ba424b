"""Asynchronous HTTP and WebSocket libraries with pyssl injected as
``ssl``, both ends in a fresh interpreter (``async_clients_driver.py``):
httpx (HTTP/1.1, and HTTP/2 negotiated over ALPN) against hypercorn,
aiohttp's client against aiohttp.web, websockets' client against its
server. Each runs in the set-ups of the ``client_setup`` fixture and checks whose
classes made the connection on both ends.
"""

from __future__ import annotations

import hashlib
import os

import pytest
from client_setups import checked, connection, require, ssl_module, verify_failure
from injected_driver import payload, run

DRIVER = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "async_clients_driver.py"
)


@pytest.fixture
def scenario(client_setup, certs):
    """scenario(name, ca=certs.ca, **args): what the driver's ``name`` reports,
    run in ``client_setup`` with the test server certificate and the
    client trusting ``ca``, once the entries every scenario reports are
    checked."""

    def start(name, ca=certs.ca, **args):
        result = run(
            client_setup,
            name,
            driver=DRIVER,
            ca=ca,
            server_chain=certs.server_chain,
            **args,
        )
        return checked(result, client_setup)

    return start


def digest(size):
    return {"bytes": size, "sha256": hashlib.sha256(payload(size)).hexdigest()}


# ---- httpx and hypercorn --------------------------------------------------------

# httpx's Client wraps a socket (SSLSocket); its AsyncClient goes through
# anyio and asyncio's SSL transport (SSLObject).
HTTPX_CLIENTS = {"httpx.Client": "SSLSocket", "httpx.AsyncClient": "SSLObject"}
HTTP_VERSIONS = {
    # offered by httpx: (ALPN, httpx's http_version, hypercorn's scope["http_version"])
    "HTTP/1.1": ("http/1.1", "HTTP/1.1", "1.1"),
    "HTTP/2": ("h2", "HTTP/2", "2"),
}
# Past the 65,535 bytes of HTTP/2's initial flow-control window.
BODY = 300_000


@pytest.mark.parametrize("http", list(HTTP_VERSIONS))
@pytest.mark.parametrize("client", list(HTTPX_CLIENTS))
def test_httpx_against_hypercorn(scenario, client_setup, client, http):
    require("httpx", "h2", "hypercorn")
    alpn, http_version, seen = HTTP_VERSIONS[http]
    result = scenario("httpx_get", client=client, http2=http == "HTTP/2", size=BODY)
    assert result == {
        "status": 200,
        "http_version": http_version,
        "server saw": {"http_version": seen, "path": "/get"},
        "body": digest(BODY),
        "client": connection(client_setup, HTTPX_CLIENTS[client], alpn),
        # hypercorn made its context through the ssl module it imported.
        "server contexts": [f"{ssl_module(client_setup)}.SSLContext"],
    }


@pytest.mark.parametrize("client", list(HTTPX_CLIENTS))
def test_httpx_refuses_a_server_from_another_ca(scenario, client_setup, certs, client):
    require("httpx", "h2", "hypercorn")
    result = scenario(
        "httpx_get", ca=certs.other_ca, client=client, http2=True, size=BODY
    )
    assert result == verify_failure(client_setup, "httpx.ConnectError")


# ---- aiohttp --------------------------------------------------------------------------

STREAMED = 1 << 20


def test_aiohttp_client_and_server(scenario, client_setup):
    require("aiohttp")
    result = scenario("aiohttp_get", size=STREAMED)
    # The body came in parts as the server wrote them: aiohttp's reader
    # holds no more than about 128 KiB before it stops reading.
    assert result["stream"].pop("parts") > 1
    assert result == {
        "client": connection(client_setup),
        "server": {"path": "/facts?q=1", **connection(client_setup)},
        "stream": {
            "status": 200,
            "transfer-encoding": "chunked",
            "body": digest(STREAMED),
        },
    }


def test_aiohttp_refuses_a_server_from_another_ca(scenario, client_setup, certs):
    require("aiohttp")
    result = scenario("aiohttp_get", ca=certs.other_ca, size=STREAMED)
    assert result == verify_failure(
        client_setup, "aiohttp.client_exceptions.ClientConnectorCertificateError"
    )


# ---- websockets -----------------------------------------------------------------------

MESSAGES = ["hello", {"bytes": 200_000}, "été " * 1000]


def described(message):
    """[type, length, sha256] of a message as the driver reports it."""
    if isinstance(message, dict):
        data = payload(message["bytes"])
        return ["bytes", len(data), hashlib.sha256(data).hexdigest()]
    return ["str", len(message), hashlib.sha256(message.encode()).hexdigest()]


def test_websockets_echo_over_wss(scenario, client_setup):
    require("websockets")
    result = scenario("websockets_echo", messages=MESSAGES)
    expected = [described(message) for message in MESSAGES]
    assert result == {
        "sent": expected,
        "echoed": expected,
        "client": connection(client_setup),
        "server": [{"path": "/echo", **connection(client_setup)}],
    }


def test_websockets_refuses_a_server_from_another_ca(scenario, client_setup, certs):
    require("websockets")
    result = scenario("websockets_echo", ca=certs.other_ca, messages=MESSAGES)
    assert result == verify_failure(client_setup)
