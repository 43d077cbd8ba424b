"""gevent and eventlet on pyssl injected as ``ssl``: after the library
monkey-patched the interpreter, a green HTTPS client (http.client with
``ssl.create_default_context()``, or requests) and a green server on the
patched ``ssl.SSLContext``, taking turns on one thread
(``green_clients_driver.py``), in the set-ups of the ``client_setup``
fixture.

Both libraries subclass ``ssl.SSLContext`` and reach below it: they set
its properties through ``super(SSLContext, SSLContext)`` (the C base
type's), and make connections with ``context._wrap_socket()``, whose
``_ssl._SSLSocket`` must raise SSLWantReadError on the non-blocking socket
under theirs so that they can wait in their hub.
"""

from __future__ import annotations

import os

import pytest
from client_setups import checked, low_level, require, ssl_module, verify_failure
from injected_driver import run

DRIVER = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "green_clients_driver.py"
)

# The classes each library's patched ssl module offers, and whether its
# SSLSocket derives from the ssl module's (gevent's derives from its own
# socket class).
LIBRARIES = {
    "gevent": ("gevent.ssl.SSLSocket", "gevent.ssl.SSLContext", False),
    "eventlet": (
        "eventlet.green.ssl.GreenSSLSocket",
        "eventlet.green.ssl.GreenSSLContext",
        True,
    ),
}
CLIENTS = ["http.client", "requests"]
VERIFY_FAILURE_RAISED = {
    "http.client": None,
    "requests": "requests.exceptions.SSLError",
}


def green_connection(setup, library):
    socket, context, subclasses_sslsocket = LIBRARIES[library]
    module = ssl_module(setup)
    return {
        "socket": socket,
        "context": context,
        "version": "TLSv1.3",
        "alpn": None,
        "socket base": f"{module}.SSLSocket" if subclasses_sslsocket else None,
        "context base": f"{module}.SSLContext",
        "connection": f"{low_level(setup)}._SSLSocket",
    }


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("library", list(LIBRARIES))
def test_green_https(client_setup, certs, library, client):
    require(library, client.split(".")[0])
    result = run(
        client_setup,
        "green_https",
        driver=DRIVER,
        library=library,
        client=client,
        ca=certs.ca,
        server_chain=certs.server_chain,
    )
    served = {
        "request": "GET /green HTTP/1.1",
        **green_connection(client_setup, library),
    }
    assert checked(result, client_setup) == {
        "status": 200,
        "body": served,
        "client": green_connection(client_setup, library),
        "server": served,
    }


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("library", list(LIBRARIES))
def test_green_client_refuses_a_server_from_another_ca(
    client_setup, certs, library, client
):
    require(library, client.split(".")[0])
    result = run(
        client_setup,
        "green_https",
        driver=DRIVER,
        library=library,
        client=client,
        ca=certs.other_ca,
        server_chain=certs.server_chain,
    )
    # eventlet's socket does the handshake in its constructor and leaves
    # itself open when that fails (with the stdlib's ssl too).
    unclosed = ["eventlet.green.ssl.GreenSSLSocket"] if library == "eventlet" else []
    assert checked(result, client_setup, unclosed) == {
        **verify_failure(client_setup, VERIFY_FAILURE_RAISED[client]),
        "server": {
            "refused": f"{ssl_module(client_setup)}.SSLError",
            "reason": "TLSV1_ALERT_UNKNOWN_CA",
        },
    }
