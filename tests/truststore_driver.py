"""truststore's SSLContext in the clients of ``injected_driver.py``
(http.client, urllib3, requests), given to them or put in place of
``ssl.SSLContext`` by ``truststore.inject_into_ssl()``. Run as
``injected_driver.py`` is (same SETUP words).

On Linux truststore trusts what OpenSSL's default verify paths hold: the
tests point ``SSL_CERT_FILE`` at the CA, and no client is told of it.

truststore is imported after the injection in every set-up: at import it
subclasses the ``ssl.SSLContext`` it finds and keeps ``super()`` of it to
reach the C base type's properties, objects an injection made later cannot
switch (pyssl's README: what the stdlib made before stays the stdlib's).
"""

import sys

if __name__ == "__main__" and "block" in sys.argv[1].split("+"):
    sys.modules["_ssl"] = None

import json  # noqa: E402  (none of these imports ssl)
import urllib.parse  # noqa: E402

import injected_driver  # noqa: E402
from client_facts import kind, layers_of, registry  # noqa: E402
from injected_driver import TIMEOUT, tls_failure  # noqa: E402

SCENARIOS, scenario = registry()
PRELOAD = ["http.client", "urllib.request", "urllib3", "requests"]


def _http_client(url, context):
    import http.client
    import ssl

    if context is None:
        context = ssl.create_default_context()  # truststore's, once injected
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPSConnection(
        parts.hostname, parts.port, context=context, timeout=TIMEOUT
    )
    try:
        conn.request("GET", parts.path)
        response = conn.getresponse()
        return response.status, response.read(), layers_of(conn.sock)
    finally:
        conn.close()


def _urllib3(url, context):
    import urllib3

    # Without a context of ours, urllib3 makes one with the SSLContext
    # class truststore put in its namespace.
    with urllib3.PoolManager(
        ssl_context=context, retries=False, timeout=TIMEOUT
    ) as pool:
        response = pool.request("GET", url, preload_content=False)
        facts = layers_of(response.connection.sock)
        body = response.read()
        response.release_conn()
        return response.status, body, facts


def _requests(url, context):
    import requests
    import requests.adapters

    class ContextAdapter(requests.adapters.HTTPAdapter):
        """requests' way to a context of one's own: the pool manager's."""

        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, ssl_context=context, **kwargs)

    with requests.Session() as session:
        # Trust comes from truststore alone, not from REQUESTS_CA_BUNDLE.
        session.trust_env = False
        if context is not None:
            session.mount("https://", ContextAdapter())
        response = session.get(url, stream=True, timeout=TIMEOUT)
        facts = layers_of(response.raw.connection.sock)
        return response.status_code, response.content, facts


def _made(factory):
    """The kind of the context ``factory()`` returns, or what it raised."""
    try:
        return kind(factory())
    except Exception as exc:
        return f"raised {kind(exc)}: {exc}"


CLIENTS = {"http.client": _http_client, "urllib3": _urllib3, "requests": _requests}


@scenario
def truststore_get(client, url, inject):
    """GET ``url`` with ``client`` verifying through truststore: given a
    ``truststore.SSLContext(PROTOCOL_TLS_CLIENT)``, or, with ``inject``,
    after ``truststore.inject_into_ssl()`` with the contexts the client
    makes itself (reported too: what ``ssl.create_default_context()`` and
    urllib3's ``create_urllib3_context()`` return then)."""
    import ssl

    import truststore
    import urllib3.util.ssl_

    report, context = {}, None
    if inject:
        truststore.inject_into_ssl()
        report["made after inject_into_ssl"] = {
            "ssl.create_default_context()": _made(ssl.create_default_context),
            "urllib3 create_urllib3_context()": _made(
                urllib3.util.ssl_.create_urllib3_context
            ),
        }
    else:
        context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        status, body, facts = CLIENTS[client](url, context)
    except Exception as exc:
        return {**report, **tls_failure(exc)}
    finally:
        if inject:
            truststore.extract_from_ssl()
    return {**report, "status": status, "body": json.loads(body), **facts}


if __name__ == "__main__":
    injected_driver.main(
        sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), SCENARIOS, PRELOAD
    )
