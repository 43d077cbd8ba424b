"""TLS peers in this process: contexts with the test certificates, a
threaded server on loopback, the client end connected to it, whole
conversations inspected from both ends, and connections over memory BIOs."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ssl_modules import STDLIB_SSL, module_of

import pyssl

if TYPE_CHECKING:
    from cert_files import CertFiles

TIMEOUT = 15.0


def server_context(module: Any, certs: CertFiles, **settings: Any) -> Any:
    ctx = module.SSLContext(module.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.server_chain)
    for name, value in settings.items():
        setattr(ctx, name, value)
    return ctx


def client_context(module: Any, certs: CertFiles, **settings: Any) -> Any:
    ctx = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.ca)
    for name, value in settings.items():
        setattr(ctx, name, value)
    return ctx


# ---- a threaded server -------------------------------------------------------


class ThreadedServer:
    """Accepts ``connections`` TCP connections on loopback and hands each
    plain socket to ``handler`` in a server thread. ``join()`` returns the
    handlers' results and re-raises the first exception one raised.

    With ``connections=None`` it accepts until ``close()``, which then
    joins it; with ``concurrent`` each connection gets a thread of its
    own, so that a slow one does not hold up the others."""

    def __init__(
        self,
        handler: Callable[[socket.socket], Any],
        connections: int | None = 1,
        family: int = socket.AF_INET,
        concurrent: bool = False,
    ) -> None:
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        self.listener = socket.create_server((host, 0), family=family)
        if connections is not None:
            self.listener.settimeout(TIMEOUT)
        self.address = self.listener.getsockname()[:2]
        self.port = self.address[1]
        self.handler = handler
        self.connections = connections
        self.concurrent = concurrent
        self.closing = False
        self.results: list[Any] = []
        self.errors: list[BaseException] = []
        self.workers: list[threading.Thread] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        accepted = 0
        try:
            while self.connections is None or accepted < self.connections:
                conn, _addr = self.listener.accept()
                if self.closing:  # the connection of close()
                    conn.close()
                    return
                accepted += 1
                conn.settimeout(TIMEOUT)
                if self.concurrent:
                    worker = threading.Thread(
                        target=self._handle, args=(conn,), daemon=True
                    )
                    self.workers.append(worker)
                    worker.start()
                else:
                    self._handle(conn)
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            self.listener.close()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                self.results.append(self.handler(conn))
            except BaseException as exc:  # reported by join()
                self.errors.append(exc)

    def join(self, timeout: float = TIMEOUT) -> list[Any]:
        self.thread.join(timeout)
        for worker in self.workers:
            worker.join(timeout)
        if self.thread.is_alive() or any(w.is_alive() for w in self.workers):
            raise TimeoutError("the server thread did not finish")
        if self.errors:
            raise self.errors[0]
        return self.results

    def close(self, timeout: float = TIMEOUT) -> list[Any]:
        """Stop accepting (a connection of its own wakes the thread waiting
        in accept(), wherever closing the listener would not), then
        ``join()``."""
        self.closing = True
        if self.thread.is_alive():
            try:
                socket.create_connection(self.address, timeout=timeout).close()
            except OSError:  # the thread has closed the listener meanwhile
                pass
        return self.join(timeout)

    def __enter__(self) -> ThreadedServer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def connect(self, timeout: float | None = TIMEOUT) -> socket.socket:
        return socket.create_connection(self.address, timeout=timeout)


def greeter(server_ctx: Any, greeting: bytes = b"!") -> Callable[[socket.socket], None]:
    """A ThreadedServer handler: the TLS handshake with ``server_ctx``,
    then ``greeting`` (if any) sent. A handshake or connection that fails
    ends it quietly: what the client made of it is the test's to see."""

    def handler(conn: socket.socket) -> None:
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                if greeting:
                    tls.sendall(greeting)
        except OSError:  # SSLError among them
            pass

    return handler


# ---- TLS connections for the socket tests -----------------------------------


def connect_tls(
    module: Any,
    certs: CertFiles,
    server: ThreadedServer,
    timeout: float | None = TIMEOUT,
    **wrap_settings: Any,
) -> Any:
    """A ``module`` client SSLSocket connected to ``server``, trusting the
    test CA; ``wrap_settings`` go to wrap_socket()."""
    raw = server.connect(timeout=timeout)
    try:
        return client_context(module, certs).wrap_socket(
            raw, server_hostname="localhost", **wrap_settings
        )
    except BaseException:
        raw.close()
        raise


def recv_exactly(sock: Any, size: int) -> bytes:
    """Exactly ``size`` bytes from ``sock``; EOFError if the stream ends first."""
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(min(size - len(data), 1 << 20))
        if not chunk:
            raise EOFError(f"EOF after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)


# ---- one complete conversation, inspected from both ends -------------------


def converse(
    serve: Any,
    server_ctx: Any,
    client_ctx: Any,
    probe: Callable[[Any], Any],
    server_hostname: str | None = "localhost",
    probe_before_handshake: bool = False,
) -> tuple[Any, Any]:
    """Connect a client wrapped by ``client_ctx`` to a server thread wrapped by
    ``server_ctx``, exchange one byte each way (so that both ends have
    finished the handshake, and neither leaves unread data behind), and
    return ``(probe(server), probe(client))``, each taken on its own
    SSLSocket while the connection is open.

    With ``probe_before_handshake`` both ends wrap with
    ``do_handshake_on_connect=False`` and each end's result is the pair
    (probe before the handshake, probe after it)."""

    def run(tls: Any, asks: bool) -> Any:
        before = None
        if probe_before_handshake:
            before = probe(tls)
            tls.do_handshake()
        if asks:
            tls.sendall(b"?")
            assert tls.recv(1) == b"!"
        else:
            assert tls.recv(1) == b"?"
            tls.sendall(b"!")
        after = probe(tls)
        return (before, after) if probe_before_handshake else after

    on_connect = not probe_before_handshake

    def handler(conn: socket.socket) -> Any:
        with server_ctx.wrap_socket(
            conn, server_side=True, do_handshake_on_connect=on_connect
        ) as tls:
            return run(tls, asks=False)

    server = serve(handler)
    with (
        server.connect() as raw,
        client_ctx.wrap_socket(
            raw, server_hostname=server_hostname, do_handshake_on_connect=on_connect
        ) as tls,
    ):
        client_value = run(tls, asks=True)
    [server_value] = server.join()
    return server_value, client_value


def _negotiated_version(tls: Any) -> Any:
    return tls.version()


def handshake_outcomes(
    serve: Any,
    server_ctx: Any,
    client_ctx: Any,
    server_hostname: Any = "localhost",
    on_server: Callable[[Any], Any] = _negotiated_version,
    on_client: Callable[[Any], Any] = _negotiated_version,
) -> tuple[Any, Any]:
    """Connect a client to a server on loopback and return (client,
    server): what on_client(tls) and on_server(tls) returned (the
    negotiated version unless given), or the exception the handshake
    raised on that side."""

    def handler(conn: socket.socket) -> Any:
        try:
            tls = server_ctx.wrap_socket(conn, server_side=True)
        except Exception as exc:
            return exc
        with tls:
            result = on_server(tls)
            tls.sendall(b"!")  # the client inspects its side after this
            try:
                tls.recv(1)  # until the client closes
            except OSError:
                pass
            return result

    server = serve(handler)
    with server.connect() as raw:
        try:
            tls = client_ctx.wrap_socket(raw, server_hostname=server_hostname)
        except Exception as exc:
            client = exc
        else:
            with tls:
                tls.recv(1)
                client = on_client(tls)
    [server_result] = server.join()
    return client, server_result


# ---- connections over memory BIOs ----------------------------------------------


class BioPair:
    """A client and a server SSLObject (``wrap_bio``) whose MemoryBIOs are
    joined in memory; ``handshake()`` and ``send()`` move the bytes."""

    def __init__(
        self,
        client_ctx: Any,
        server_ctx: Any,
        server_hostname: Any = "localhost",
        session: Any = None,
    ) -> None:
        client_module, server_module = module_of(client_ctx), module_of(server_ctx)
        self._client_bios = (client_module.MemoryBIO(), client_module.MemoryBIO())
        self._server_bios = (server_module.MemoryBIO(), server_module.MemoryBIO())
        self.client = client_ctx.wrap_bio(
            *self._client_bios, server_hostname=server_hostname, session=session
        )
        self.server = server_ctx.wrap_bio(*self._server_bios, server_side=True)

    def _move(self) -> bool:
        """Deliver what each side wrote to the other; whether anything moved."""
        moved = False
        for (_, outgoing), (incoming, _) in (
            (self._client_bios, self._server_bios),
            (self._server_bios, self._client_bios),
        ):
            data = outgoing.read()
            if data:
                incoming.write(data)
                moved = True
        return moved

    def _run(self, steps: dict[Any, Callable[[], Any]]) -> dict[Any, Any]:
        """Call each side's step until it stops asking for input; the
        result of each side's last call."""
        results: dict[Any, Any] = {}
        while len(results) < len(steps):
            for side, step in steps.items():
                if side in results:
                    continue
                try:
                    results[side] = step()
                except (pyssl.SSLWantReadError, *_stdlib_want_read()):
                    pass
            if not self._move() and len(results) < len(steps):
                raise RuntimeError("the TLS conversation stalled")
        self._move()
        return results

    def handshake(self) -> BioPair:
        self._run(
            {
                self.client: self.client.do_handshake,
                self.server: self.server.do_handshake,
            }
        )
        return self

    def send(self, data: bytes, to_server: bool = True) -> bytes:
        """Write ``data`` on one side and return what the other reads."""
        writer, reader = (
            (self.client, self.server) if to_server else (self.server, self.client)
        )
        writer.write(data)
        self._move()
        return self._run({reader: lambda: reader.read(len(data))})[reader]


def _stdlib_want_read() -> tuple[type[BaseException], ...]:
    return () if STDLIB_SSL is None else (STDLIB_SSL.SSLWantReadError,)
