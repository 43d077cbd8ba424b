"""Servers on loopback for the tests that drive real client libraries.

They run in threads of the test process with pyssl contexts chosen by the
test; the clients run in other interpreters (``injected_driver.py``). Each
server records what it saw so that a test can check the server's side too.
"""

from __future__ import annotations

import http.server
import json
import select
import socket
import socketserver
import threading
import xmlrpc.server
from collections.abc import Callable
from typing import Any

from peers import TIMEOUT

Handler = Callable[[socket.socket], Any]


def describe(obj: Any) -> str:
    """``pyssl.SSLSocket`` and the like: where an object's class comes from."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def common_name(cert: dict | None) -> str | None:
    """The commonName of a getpeercert() dict, or None without a certificate."""
    if not cert:
        return None
    return dict(rdn[0] for rdn in cert["subject"]).get("commonName")


# ---- line-based protocols (SMTP, IMAP, POP3, FTP) ------------------------------


class LineChannel:
    """CRLF-terminated lines over a socket that may be upgraded to TLS."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def readline(self) -> str | None:
        """The next line without its CRLF; None at the end of the stream."""
        while b"\r\n" not in self.buffer:
            data = self.sock.recv(4096)
            if not data:
                return None
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line.decode()

    def send(self, *lines: str) -> None:
        self.sock.sendall("".join(line + "\r\n" for line in lines).encode())

    def starttls(self, context: Any) -> None:
        # The client waits for our go-ahead before its ClientHello, so no
        # clear text can be left over here.
        assert self.buffer == b"", self.buffer
        self.sock = context.wrap_socket(self.sock, server_side=True)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


def _transcript(
    channel: LineChannel,
    greeting: str,
    reply: Callable[[str, str], bool],
    word: int = 0,
) -> list[str]:
    """Send ``greeting``, then call ``reply(verb, line)`` for each line
    until it returns False or the client hangs up; the verb is the line's
    ``word``-th word. Returns the verbs seen, each followed by the TLS
    version it arrived under ("clear" before TLS)."""
    channel.send(greeting)
    verbs = []
    while (line := channel.readline()) is not None:
        verb = line.split(" ")[word].upper()
        version = getattr(channel.sock, "version", lambda: None)()
        verbs.append(f"{verb} {version or 'clear'}")
        if not reply(verb, line):
            break
    return verbs


def smtp_responder(context: Any) -> Handler:
    """One SMTP conversation that offers STARTTLS and accepts one message.
    The handler returns the verbs seen (with the TLS version they came
    under), the message's envelope and text, and the server's socket."""

    def handler(conn: socket.socket) -> dict[str, Any]:
        channel = LineChannel(conn)
        mail: dict[str, Any] = {"from": None, "to": [], "data": None}

        def reply(verb: str, line: str) -> bool:
            tls = channel.sock is not conn
            if verb == "EHLO":
                channel.send(
                    "250-localhost", "250 SIZE 100000" if tls else "250 STARTTLS"
                )
            elif verb == "STARTTLS" and not tls:
                channel.send("220 Ready to start TLS")
                channel.starttls(context)
            elif verb == "MAIL":
                mail["from"] = line.split(":", 1)[1]
                channel.send("250 OK")
            elif verb == "RCPT":
                mail["to"].append(line.split(":", 1)[1])
                channel.send("250 OK")
            elif verb == "DATA":
                channel.send("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while (text := channel.readline()) not in (".", None):
                    lines.append(text)
                mail["data"] = lines
                channel.send("250 OK queued")
            elif verb == "QUIT":
                channel.send("221 Bye")
                return False
            else:
                channel.send("502 Command not implemented")
            return True

        verbs = _transcript(channel, "220 localhost ESMTP", reply)
        server_socket = describe(channel.sock)
        channel.close()
        return {"verbs": verbs, "mail": mail, "socket": server_socket}

    return handler


def imap_responder(context: Any) -> Handler:
    """IMAP over implicit TLS (IMAP4_SSL): CAPABILITY, NOOP and LOGOUT."""

    def handler(conn: socket.socket) -> list[str]:
        channel = LineChannel(context.wrap_socket(conn, server_side=True))

        def reply(command: str, line: str) -> bool:
            tag = line.split(" ", 1)[0]
            if command == "CAPABILITY":
                channel.send("* CAPABILITY IMAP4rev1", f"{tag} OK CAPABILITY completed")
            elif command == "NOOP":
                channel.send(f"{tag} OK NOOP completed")
            elif command == "LOGOUT":
                channel.send("* BYE logging out", f"{tag} OK LOGOUT completed")
                return False
            else:
                channel.send(f"{tag} BAD unknown command")
            return True

        # An IMAP line starts with the client's tag; the command follows.
        verbs = _transcript(channel, "* OK IMAP4rev1 ready", reply, word=1)
        channel.close()
        return verbs

    return handler


def pop3_responder(context: Any) -> Handler:
    """POP3 over implicit TLS (POP3_SSL): STAT and QUIT."""

    def handler(conn: socket.socket) -> list[str]:
        channel = LineChannel(context.wrap_socket(conn, server_side=True))

        def reply(verb: str, line: str) -> bool:
            if verb == "STAT":
                channel.send("+OK 2 320")
                return True
            channel.send("+OK bye" if verb == "QUIT" else "-ERR unknown command")
            return verb != "QUIT"

        verbs = _transcript(channel, "+OK POP3 ready", reply)
        channel.close()
        return verbs

    return handler


def ftp_responder(context: Any) -> Handler:
    """FTP with AUTH TLS on the control connection (FTP_TLS): login,
    protection level, QUIT."""

    def handler(conn: socket.socket) -> list[str]:
        channel = LineChannel(conn)

        def reply(verb: str, line: str) -> bool:
            if verb == "AUTH":
                channel.send("234 AUTH TLS successful")
                channel.starttls(context)
            elif verb == "USER":
                channel.send("230 Logged in")
            elif verb in ("PBSZ", "PROT"):
                channel.send("200 OK")
            elif verb == "QUIT":
                channel.send("221 Goodbye")
                return False
            else:
                channel.send("502 Command not implemented")
            return True

        verbs = _transcript(channel, "220 FTP ready", reply)
        channel.close()
        return verbs

    return handler


# ---- HTTPS ---------------------------------------------------------------------


def connect_proxy(context: Any) -> Handler:
    """An HTTPS proxy for one CONNECT request: TLS with the client, then
    the bytes relayed both ways to the requested loopback port until either
    side closes. The handler returns the request line."""

    def handler(conn: socket.socket) -> str:
        with context.wrap_socket(conn, server_side=True) as tls:
            channel = LineChannel(tls)
            request = channel.readline() or ""
            while channel.readline():  # the headers, up to the empty line
                pass
            assert channel.buffer == b"", (
                channel.buffer
            )  # the client waits for our answer
            port = int(request.split()[1].rsplit(":", 1)[1])
            with socket.create_connection(
                ("127.0.0.1", port), timeout=TIMEOUT
            ) as upstream:
                channel.send("HTTP/1.1 200 Connection established", "")
                _relay(tls, upstream)
            return request

    return handler


def _relay(tls: Any, upstream: socket.socket) -> None:
    # select() suffices on the TLS side: without read-ahead OpenSSL takes
    # no more from the socket than the record recv() returns.
    while True:
        readable, _, _ = select.select([tls, upstream], [], [], TIMEOUT)
        if not readable:
            raise TimeoutError("the tunnel went quiet")
        for source in readable:
            data = source.recv(65536)
            if not data:
                return
            (upstream if source is tls else tls).sendall(data)


class ReportingHandler(http.server.BaseHTTPRequestHandler):
    """Answers every GET with JSON saying what the server saw of the
    request: its path, the client certificate's commonName and the class
    of the server's socket. The server's ``seen`` list gets the same."""

    protocol_version = "HTTP/1.1"  # keep-alive: the client keeps its socket
    timeout = TIMEOUT

    def do_GET(self) -> None:
        seen = {
            "path": self.path,
            "client_cert": common_name(self.connection.getpeercert()),
            "socket": describe(self.connection),
        }
        self.server.seen.append(seen)  # type: ignore[attr-defined]
        body = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _KeepAliveXMLRPCHandler(xmlrpc.server.SimpleXMLRPCRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = TIMEOUT


class _ThreadingXMLRPCServer(
    socketserver.ThreadingMixIn, xmlrpc.server.SimpleXMLRPCServer
):
    daemon_threads = True


def xmlrpc_server() -> socketserver.TCPServer:
    """An XML-RPC server on loopback offering ``reverse(text)``."""
    server = _ThreadingXMLRPCServer(
        ("127.0.0.1", 0), requestHandler=_KeepAliveXMLRPCHandler, logRequests=False
    )
    server.register_function(lambda text: text[::-1], "reverse")
    return server


class HTTPSServer:
    """A socketserver HTTP server (``ReportingHandler`` by default) on
    loopback whose listening socket is wrapped by ``context``, served by a
    thread until ``close()``."""

    def __init__(
        self, context: Any, server: socketserver.TCPServer | None = None
    ) -> None:
        if server is None:
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ReportingHandler)
        self.seen: list[dict[str, Any]] = []
        server.seen = self.seen  # type: ignore[attr-defined]
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self.server = server
        self.port = server.server_address[1]
        self.url = f"https://localhost:{self.port}/"
        self.thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(TIMEOUT)
