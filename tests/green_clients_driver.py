"""gevent and eventlet: a green HTTPS client (http.client or requests)
and a green HTTPS server in one interpreter, after the library has
monkey-patched it. Run as ``injected_driver.py`` is (same SETUP words), with
one difference: "preload" imports only the stdlib's ssl, since a program
using green threads patches before it imports anything else, and pyssl is
``ssl`` by then (as PYSSL_INJECT=1 makes it at start-up).

Client and server take turns on the one thread: a TLS call that blocked
the thread instead of yielding to the library's hub would leave the other
end waiting until the time limit.
"""

import sys

if __name__ == "__main__" and "block" in sys.argv[1].split("+"):
    sys.modules["_ssl"] = None

import json  # noqa: E402  (none of these imports ssl)

import injected_driver  # noqa: E402
from client_facts import kind, layers_of, registry  # noqa: E402
from injected_driver import TIMEOUT, tls_failure  # noqa: E402

SCENARIOS, scenario = registry()
PRELOAD = ["ssl"]


class _Gevent:
    def __init__(self):
        from gevent import monkey

        monkey.patch_all()
        import gevent

        self.spawn = gevent.spawn

    @staticmethod
    def finish(greenlet):
        return greenlet.get(timeout=TIMEOUT)


class _Eventlet:
    def __init__(self):
        import eventlet

        eventlet.monkey_patch()
        self.spawn = eventlet.spawn
        self.timeout = eventlet.Timeout

    def finish(self, greenthread):
        with self.timeout(TIMEOUT):
            return greenthread.wait()


GREEN = {"gevent": _Gevent, "eventlet": _Eventlet}


def _serve_one(listener, context):
    """Accept one connection and answer one HTTP request on it with JSON
    saying what the server saw of the connection, then wait for the client
    to close it; or, if the handshake fails, say why."""
    import ssl

    conn, _ = listener.accept()
    with conn:
        # The handshake is not wrap_socket()'s: eventlet's socket would stay
        # open when the handshake it does in its constructor fails.
        with context.wrap_socket(
            conn, server_side=True, do_handshake_on_connect=False
        ) as tls:
            try:
                tls.do_handshake()
            except ssl.SSLError as exc:
                return {"refused": kind(exc), "reason": exc.reason}
            request = b""
            while b"\r\n\r\n" not in request and (data := tls.recv(4096)):
                request += data
            seen = {"request": request.split(b"\r\n", 1)[0].decode(), **layers_of(tls)}
            body = json.dumps(seen).encode()
            tls.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            while tls.recv(4096):  # the client keeps the connection until it is done
                pass
            return seen


def _http_client(url, ca):
    import http.client
    import ssl
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    context = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection(
        parts.hostname, parts.port, context=context, timeout=TIMEOUT
    )
    try:
        conn.request("GET", parts.path)
        facts = layers_of(conn.sock)
        response = conn.getresponse()
        return response.status, response.read(), facts
    finally:
        conn.close()


def _requests(url, ca):
    import requests

    with requests.Session() as session:
        session.trust_env = False  # the CA given, and no proxy from the environment
        response = session.get(url, verify=ca, stream=True, timeout=TIMEOUT)
        facts = layers_of(response.raw.connection.sock)
        return response.status_code, response.content, facts


CLIENTS = {"http.client": _http_client, "requests": _requests}


@scenario
def green_https(library, client, ca, server_chain):
    """Patch with ``library`` first, then GET from a server greenlet with
    ``client``, trusting ``ca``."""
    green = GREEN[library]()
    import socket
    import ssl

    # The classes as the patched ssl module offers them.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_chain)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        server = green.spawn(_serve_one, listener, context)
        url = f"https://localhost:{listener.getsockname()[1]}/green"
        try:
            status, body, facts = CLIENTS[client](url, ca)
        except Exception as exc:
            return {**tls_failure(exc), "server": green.finish(server)}
        return {
            "status": status,
            "body": json.loads(body),
            "client": facts,
            "server": green.finish(server),
        }


if __name__ == "__main__":
    injected_driver.main(
        sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), SCENARIOS, PRELOAD
    )
