"""pyssl in an interpreter without the stdlib's ssl and _ssl modules."""

from __future__ import annotations

import os
import subprocess
import sys

import pyssl

# Run as ``python -c SCRIPT ca.pem server.pem other-ca.pem``. Blocking
# ``ssl``/``_ssl`` in sys.modules makes any import of them raise
# ImportError, as in a Python built without them.
SCRIPT = r"""
import sys
sys.modules["_ssl"] = None
sys.modules["ssl"] = None

import socket
import threading

import pyssl

ca, server_chain, other_ca = sys.argv[1:4]
server_ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_SERVER)
server_ctx.load_cert_chain(server_chain)
listener = socket.create_server(("127.0.0.1", 0))
listener.settimeout(30)
server_errors = []


def serve(connections):
    for _ in range(connections):
        conn, _ = listener.accept()
        conn.settimeout(30)
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(tls.recv(100).upper())
        except pyssl.SSLError as exc:
            server_errors.append(exc)
        finally:
            conn.close()


def exchange(client_ctx):
    with socket.create_connection(listener.getsockname(), timeout=30) as raw:
        with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"verified handshake")
            return tls.version(), tls.recv(100).decode()


thread = threading.Thread(target=serve, args=(2,))
thread.start()
version, answer = exchange(pyssl.create_default_context(cafile=ca))
print("trusted:", version, answer)
try:
    exchange(pyssl.create_default_context(cafile=other_ca))
except pyssl.SSLCertVerificationError as exc:
    print("untrusted:", exc.reason, exc.verify_code)
thread.join()
print("server errors:", len(server_errors))
print("blocked:", sys.modules["ssl"], sys.modules["_ssl"])
"""


def test_verified_handshake_without_the_stdlib_ssl_module(certs):
    env = dict(os.environ)
    # The pyssl these tests import, whether installed or built in place.
    here = os.path.dirname(os.path.dirname(os.path.abspath(pyssl.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, certs.ca, certs.server_chain, certs.other_ca],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=certs.tmpdir,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "trusted: TLSv1.3 VERIFIED HANDSHAKE",
        "untrusted: CERTIFICATE_VERIFY_FAILED 20",
        "server errors: 1",
        "blocked: None None",
    ]
