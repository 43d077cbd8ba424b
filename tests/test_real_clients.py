"""Real client libraries doing TLS through pyssl injected as ``ssl``:
asyncio, http.client, urllib.request, smtplib, urllib3 and requests.

Each client runs in a fresh interpreter (``injected_driver.py``), in two
set-ups: the stdlib ssl importable and the libraries imported before the
injection, and ``_ssl`` blocked so that only pyssl can do TLS at all. The
servers are pyssl's, in this process, unless the scenario is asyncio's
own server. Every test checks that the client's socket (or SSLObject) and
context were pyssl's.
"""

from __future__ import annotations

import hashlib
import importlib.util

import pytest
import trustme
from injected_driver import BLOCKED_IMPORT, payload, run
from loopback_servers import HTTPSServer, connect_proxy, smtp_responder
from peers import server_context
from ssl_modules import NO_STDLIB_SSL, STDLIB_SSL

import pyssl

SETUPS = {"stdlib-present": "preload+inject", "_ssl-blocked": "block+inject"}


@pytest.fixture(params=list(SETUPS))
def setup(request):
    if request.param == "stdlib-present" and STDLIB_SSL is None:
        pytest.skip(NO_STDLIB_SSL)
    return SETUPS[request.param]


def assert_pyssl_did_tls(result, facts=None, socket_class="pyssl.SSLSocket"):
    """The connection ``facts`` (by default the result itself) describe was
    pyssl's; with _ssl blocked, the stdlib could not even be imported."""
    facts = result if facts is None else facts
    assert (facts["socket"], facts["context"], facts["version"]) == (
        socket_class,
        "pyssl.SSLContext",
        "TLSv1.3",
    )
    if result["setup"] == SETUPS["_ssl-blocked"]:
        assert result["stdlib_ssl_import"] == BLOCKED_IMPORT


# ---- asyncio ---------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [4096, 64 << 20], ids=["round-trip", "64-MiB-both-ways"]
)
def test_asyncio_open_connection_to_start_server(setup, certs, size):
    result = run(
        setup, "asyncio_echo", ca=certs.ca, server_chain=certs.server_chain, size=size
    )
    sent = {"bytes": size, "sha256": hashlib.sha256(payload(size)).hexdigest()}
    assert (
        result["sent"] == result["server received"] == result["client received"] == sent
    )
    assert result["client read after the echo"] == ""
    assert result["client"].pop("san") == [
        ["DNS", "localhost"],
        ["IP Address", "127.0.0.1"],
        ["IP Address", "0:0:0:0:0:0:0:1"],
    ]
    assert_pyssl_did_tls(result, result["client"], "pyssl.SSLObject")
    assert_pyssl_did_tls(result, result["server"], "pyssl.SSLObject")


def test_asyncio_start_tls_upgrades_a_plain_connection(setup, certs):
    result = run(
        setup, "asyncio_start_tls", ca=certs.ca, server_chain=certs.server_chain
    )
    assert result["clear"] == {"client got": "GO", "server got": "STARTTLS"}
    assert result["tls"] == {"client got": "HELLO", "server got": "hello"}
    assert_pyssl_did_tls(result, result["client"], "pyssl.SSLObject")
    assert_pyssl_did_tls(result, result["server"], "pyssl.SSLObject")


# ---- HTTPS -------------------------------------------------------------------

HTTP_CLIENTS = ["http.client", "urlopen", "urllib3", "requests"]
# What each library raises when the server's certificate does not verify.
VERIFY_FAILURE_RAISED = {
    "http.client": "pyssl.SSLCertVerificationError",
    "urlopen": "urllib.error.URLError",
    "urllib3": "urllib3.exceptions.SSLError",
    "requests": "requests.exceptions.SSLError",
}


@pytest.fixture(params=HTTP_CLIENTS)
def http_client(request):
    if (
        request.param in ("urllib3", "requests")
        and importlib.util.find_spec(request.param) is None
    ):
        pytest.skip(f"{request.param} is not installed")
    return request.param


@pytest.fixture
def https_server():
    servers = []

    def start(context):
        servers.append(HTTPSServer(context))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.mark.parametrize(
    "case", ["server-verified", "by-ip-address", "client-cert-required"]
)
def test_https_get_with_verification(setup, certs, http_client, https_server, case):
    client_cert = case == "client-cert-required"
    context = server_context(pyssl, certs)
    if client_cert:
        context.load_verify_locations(certs.ca)
        context.verify_mode = pyssl.CERT_REQUIRED
    server = https_server(context)
    url = server.url + "path?q=1"
    if case == "by-ip-address":  # no SNI; the address is checked against the IP SANs
        url = url.replace("localhost", "127.0.0.1")
    result = run(
        setup,
        "https_get",
        client=http_client,
        url=url,
        ca=certs.ca,
        cert=certs.client_chain if client_cert else None,
    )
    seen = {
        "path": "/path?q=1",
        "client_cert": "pyssl test client" if client_cert else None,
        "socket": "pyssl.SSLSocket",
    }
    assert server.seen == [seen]
    assert result["status"] == 200 and result["body"] == seen
    assert_pyssl_did_tls(result)


@pytest.fixture(scope="module")
def misnamed(tmp_path_factory):
    """A CA and a server certificate it issued for another host than
    localhost: (ca path, server chain path)."""
    ca = trustme.CA()
    directory = tmp_path_factory.mktemp("misnamed")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    ca.issue_cert("wrong.example").private_key_and_cert_chain_pem.write_to_path(
        str(directory / "server.pem")
    )
    return str(directory / "ca.pem"), str(directory / "server.pem")


def test_https_to_the_wrong_host_fails_verification(
    setup, http_client, https_server, misnamed
):
    ca, chain = misnamed
    context = pyssl.SSLContext(pyssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    server = https_server(context)
    result = run(setup, "https_get", client=http_client, url=server.url, ca=ca)
    assert result == {
        "setup": setup,
        **(
            {"stdlib_ssl_import": BLOCKED_IMPORT}
            if setup == SETUPS["_ssl-blocked"]
            else {}
        ),
        "raised": VERIFY_FAILURE_RAISED[http_client],
        "error": "pyssl.SSLCertVerificationError",
        "verify_code": 62,  # X509_V_ERR_HOSTNAME_MISMATCH
        "verify_message": "Hostname mismatch, certificate is not valid for 'localhost'.",
    }
    assert server.seen == []


@pytest.mark.parametrize("client", ["urllib3", "requests"])
def test_https_through_an_https_proxy(setup, certs, client, serve, https_server):
    pytest.importorskip(client)
    target = https_server(server_context(pyssl, certs))
    proxy = serve(connect_proxy(server_context(pyssl, certs)))
    result = run(
        setup,
        "https_via_proxy",
        client=client,
        url=target.url + "tunnelled",
        proxy=f"https://localhost:{proxy.port}",
        ca=certs.ca,
    )
    [request] = proxy.join()  # http.client's tunnel speaks HTTP/1.0 before 3.12
    assert request.rsplit(" ", 1)[0] == f"CONNECT localhost:{target.port}"
    assert target.seen == [
        {"path": "/tunnelled", "client_cert": None, "socket": "pyssl.SSLSocket"}
    ]
    assert (result["status"], result["body"]) == (200, target.seen[0])
    assert result["transport"] == "urllib3.util.ssltransport.SSLTransport"
    assert_pyssl_did_tls(result, result["tunnel"])
    assert_pyssl_did_tls(result, result["inner"], "pyssl.SSLObject")


# ---- SMTP ----------------------------------------------------------------------


def test_smtplib_starttls(setup, certs, serve):
    server = serve(smtp_responder(server_context(pyssl, certs)))
    result = run(
        setup, "protocol_client", module="smtplib", port=server.port, ca=certs.ca
    )
    [seen] = server.join()
    assert seen == {
        "verbs": [
            "EHLO clear",
            "STARTTLS clear",
            "EHLO TLSv1.3",
            "MAIL TLSv1.3",
            "RCPT TLSv1.3",
            "DATA TLSv1.3",
            "QUIT TLSv1.3",
        ],
        "mail": {
            "from": "<from@example.org> size=25",
            "to": ["<to@example.org>"],
            "data": ["Subject: hi", "", "over TLS"],
        },
        "socket": "pyssl.SSLSocket",
    }
    assert result["refused"] == {}
    assert_pyssl_did_tls(result)
