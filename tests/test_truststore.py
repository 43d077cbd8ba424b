"""truststore on pyssl injected as ``ssl``: its SSLContext given to
http.client, urllib3 and requests, or put in place of ``ssl.SSLContext`` by
``truststore.inject_into_ssl()``, verifying a pyssl HTTPS server in this
process against the system's trust store (OpenSSL's default verify paths on
Linux, here ``SSL_CERT_FILE``). Clients run in ``truststore_driver.py``, in
the set-ups of the ``client_setup`` fixture.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata

import pytest
from client_setups import checked, low_level, require, ssl_module, verify_failure
from injected_driver import run
from loopback_servers import HTTPSServer
from peers import server_context

import pyssl

DRIVER = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "truststore_driver.py"
)

pytestmark = pytest.mark.skipif(
    sys.platform in ("win32", "darwin"),
    reason="truststore verifies through the system's own API there, not OpenSSL's default paths",
)

CLIENTS = ["http.client", "urllib3", "requests"]
VERIFY_FAILURE_RAISED = {
    "http.client": None,  # the ssl module's error itself
    "urllib3": "urllib3.exceptions.SSLError",
    "requests": "requests.exceptions.SSLError",
}


def truststore_socket(setup):
    """The class of the sockets a truststore.SSLContext makes: from 0.10.5,
    a subclass of the ssl module's SSLSocket that verifies after a
    handshake done later than wrap_socket(); before, the ssl module's."""
    version = tuple(int(part) for part in metadata.version("truststore").split(".")[:3])
    if version >= (0, 10, 5):
        return "truststore._api.SSLContext.__init__.<locals>.TruststoreSSLSocket"
    return f"{ssl_module(setup)}.SSLSocket"


@pytest.fixture
def https_server(certs):
    server = HTTPSServer(server_context(pyssl, certs))
    yield server
    server.close()


def made_after_inject(inject):
    """What the driver reports of the contexts made once truststore is
    injected: truststore's, which ssl.create_default_context() and urllib3
    look up by name when called."""
    if not inject:
        return {}
    return {
        "made after inject_into_ssl": {
            "ssl.create_default_context()": "truststore._api.SSLContext",
            "urllib3 create_urllib3_context()": "truststore._api.SSLContext",
        }
    }


@pytest.mark.parametrize(
    "inject", [False, True], ids=["truststore.SSLContext", "inject_into_ssl"]
)
@pytest.mark.parametrize("client", CLIENTS)
def test_truststore_verifies_through_the_system_store(
    client_setup, certs, https_server, client, inject
):
    require("truststore", "urllib3", client.split(".")[0])
    result = run(
        client_setup,
        "truststore_get",
        driver=DRIVER,
        env={"SSL_CERT_FILE": certs.ca},
        client=client,
        url=https_server.url + "checked",
        inject=inject,
    )
    module = ssl_module(client_setup)
    seen = {"path": "/checked", "client_cert": None, "socket": "pyssl.SSLSocket"}
    assert checked(result, client_setup) == {
        **made_after_inject(inject),
        "status": 200,
        "body": seen,
        # The socket made by the context truststore holds, whose
        # _wrap_socket() gave it the ssl module's connection object.
        "socket": truststore_socket(client_setup),
        "socket base": f"{module}.SSLSocket",
        "context": f"{module}.SSLContext",
        "context base": f"{module}.SSLContext",
        "connection": f"{low_level(client_setup)}._SSLSocket",
        "version": "TLSv1.3",
        "alpn": None,
    }
    assert https_server.seen == [seen]


@pytest.mark.parametrize(
    "inject", [False, True], ids=["truststore.SSLContext", "inject_into_ssl"]
)
@pytest.mark.parametrize("client", CLIENTS)
def test_truststore_refuses_a_ca_the_system_store_lacks(
    client_setup, certs, https_server, client, inject
):
    require("truststore", "urllib3", client.split(".")[0])
    result = run(
        client_setup,
        "truststore_get",
        driver=DRIVER,
        env={"SSL_CERT_FILE": certs.other_ca},
        client=client,
        url=https_server.url,
        inject=inject,
    )
    assert checked(result, client_setup) == {
        **made_after_inject(inject),
        **verify_failure(client_setup, VERIFY_FAILURE_RAISED[client]),
    }
    assert https_server.seen == []
