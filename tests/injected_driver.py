"""One client scenario in a fresh interpreter, with pyssl injected as the
stdlib's ``ssl``; prints what it saw as one JSON object.

    python injected_driver.py SETUP SCENARIO ARGS

SETUP is "none" or words joined by "+", applied in this order:

- ``block``: ``sys.modules['_ssl'] = None`` as the very first statement, so
  the stdlib's ssl cannot be imported (reported as ``stdlib_ssl_import``);
- ``preload``: import the client libraries (``PRELOAD``) while the stdlib's
  ssl is ``ssl``, so that they hold its objects until pyssl rebinds them;
- ``inject``: ``pyssl.inject_into_stdlib()``.

ARGS is a JSON object of the scenario's keyword arguments. Tests call
``run()``, which starts the interpreter with a time limit and returns the
decoded result.
"""

import sys

if __name__ == "__main__" and "block" in sys.argv[1].split("+"):
    sys.modules["_ssl"] = None

import hashlib  # noqa: E402  (none of these imports ssl)
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import site  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import types  # noqa: E402

TIMEOUT = 15.0  # one network operation
RUN_TIMEOUT = 60.0  # the whole interpreter
PRELOAD = [
    "http.client",
    "urllib.request",
    "asyncio",
    "asyncio.sslproto",
    "smtplib",
    "imaplib",
    "poplib",
    "ftplib",
    "xmlrpc.client",
    "urllib3",
    "requests",
]


# How ``import ssl`` fails once ``_ssl`` is blocked.
BLOCKED_IMPORT = "ModuleNotFoundError: import of _ssl halted; None in sys.modules"


def payload(size):
    """``size`` bytes of reproducible noise."""
    import random

    return random.Random(size).randbytes(size)


def run(setup, scenario, *, python=None, env=None, driver=None, **args):
    """Run ``scenario`` in a new interpreter (``python``, by default this
    one with the pyssl this process imported) and return its result.
    ``driver`` is the script that defines the scenario: by default this
    one; other families of clients have theirs beside it."""
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYSSL_", "SSL_CERT_", "PYTHONPATH"))
    }
    if python is None:
        python = sys.executable
        pyssl_dir = os.path.dirname(
            os.path.dirname(importlib.util.find_spec("pyssl").origin)
        )
        if pyssl_dir not in site.getsitepackages():  # a source tree
            environment["PYTHONPATH"] = pyssl_dir
    environment.update(env or {})
    command = [
        python,
        os.path.abspath(driver or __file__),
        setup,
        scenario,
        json.dumps(args),
    ]
    done = subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise AssertionError(
            f"{scenario} ({setup}) exited with {done.returncode}:\n{done.stderr}"
        )
    return json.loads(done.stdout.splitlines()[-1])


SCENARIOS = {}


def scenario(function):
    SCENARIOS[function.__name__] = function
    return function


def kind(obj):
    """ "pyssl.SSLSocket" when ``obj`` is an instance of the class pyssl
    offers under that name; otherwise the class's module and name (the
    stdlib's are "ssl.SSLSocket" and so on)."""
    cls = type(obj)
    pyssl = sys.modules.get("pyssl")
    if pyssl is not None and getattr(pyssl, cls.__name__, None) is cls:
        return f"pyssl.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def tls_failure(exc):
    """What a client library raised, and the ssl error at its root (found
    through ``reason``, causes, contexts and arguments)."""
    import ssl

    queue, seen, root = [exc], set(), None
    while queue and root is None:
        error = queue.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, ssl.SSLError):
            root = error
        links = [
            getattr(error, "reason", None),
            error.__cause__,
            error.__context__,
            *error.args,
        ]
        queue += [link for link in links if isinstance(link, BaseException)]
    if root is None:
        raise exc
    return {
        "raised": kind(exc),
        "error": kind(root),
        "verify_code": getattr(root, "verify_code", None),
        "verify_message": getattr(root, "verify_message", None),
    }


def tls_facts(sock):
    """Whose TLS the connection of an SSLSocket or SSLObject is (to be
    taken while it is open)."""
    return {
        "socket": kind(sock),
        "context": kind(sock.context),
        "version": sock.version(),
    }


def san(cert):
    return [list(entry) for entry in cert["subjectAltName"]]


# ---- self-contained handshakes ------------------------------------------------


@scenario
def handshake(ca, server_chain, inject_between=False):
    """A verified TLS connection from this process to a server thread in
    it; with ``inject_between``, pyssl is injected after the contexts are
    made and before they are used."""
    import ssl

    import pyssl

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(server_chain)
    client_ctx = ssl.create_default_context(cafile=ca)
    if inject_between:
        pyssl.inject_into_stdlib()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    served = {}

    def serve():
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(tls.recv(5).upper())
            served["socket"] = kind(tls)

    thread = threading.Thread(target=serve)
    thread.start()
    with socket.create_connection(listener.getsockname(), timeout=TIMEOUT) as raw:
        with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"hello")
            reply = tls.recv(5)
            client = {
                "socket": kind(tls),
                "version": tls.version(),
                "san": san(tls.getpeercert()),
            }
    thread.join(TIMEOUT)
    listener.close()
    return {
        "ssl": sys.modules["ssl"].__name__,
        "_ssl": sys.modules["_ssl"].__name__,
        "pyssl_file": pyssl.__file__,
        "reply": reply.decode(),
        "client": client,
        "server": served,
    }


# ---- asyncio: both ends in this process ---------------------------------------


def asyncio_run(ca, server_chain, main):
    """Run ``main(server_ctx, client_ctx)`` in a new event loop, bounded:
    the server's context loads ``server_chain``, the client's trusts ``ca``
    (as ssl.create_default_context(cafile=...) sets it up)."""
    import asyncio
    import ssl

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(server_chain)
    client_ctx = ssl.create_default_context(cafile=ca)

    async def bounded():
        return await asyncio.wait_for(main(server_ctx, client_ctx), TIMEOUT)

    return asyncio.run(bounded())


def _buffering_protocol():
    import asyncio

    class Buffering(asyncio.Protocol):
        """Keeps what arrives; ``await take(n)`` returns exactly n bytes."""

        def __init__(self):
            self.transport, self.buffer, self.ended = None, bytearray(), False
            self.arrived = asyncio.Event()

        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.buffer += data
            self.arrived.set()

        def eof_received(self):
            self.ended = True
            self.arrived.set()

        def connection_lost(self, exc):
            self.eof_received()

        async def take(self, n):
            while len(self.buffer) < n:
                if self.ended:
                    raise EOFError(bytes(self.buffer))
                self.arrived.clear()
                await self.arrived.wait()
            data = bytes(self.buffer[:n])
            del self.buffer[:n]
            return data

    return Buffering


@scenario
def asyncio_start_tls(ca, server_chain):
    """A plain connection that both ends upgrade with loop.start_tls()."""
    import asyncio

    Buffering = _buffering_protocol()

    async def main(server_ctx, client_ctx):
        loop = asyncio.get_running_loop()
        served = loop.create_future()

        async def serve(proto):
            try:
                starttls = await proto.take(8)
                proto.transport.write(b"GO")
                proto.transport = await loop.start_tls(
                    proto.transport, proto, server_ctx, server_side=True
                )
                hello = await proto.take(5)
                proto.transport.write(hello.upper())
                served.set_result(
                    (
                        starttls,
                        hello,
                        tls_facts(proto.transport.get_extra_info("ssl_object")),
                    )
                )
            except BaseException as exc:
                served.set_exception(exc)

        class Server(Buffering):
            def connection_made(self, transport):
                super().connection_made(transport)
                self.serving = loop.create_task(serve(self))

        server = await loop.create_server(Server, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, proto = await loop.create_connection(Buffering, "127.0.0.1", port)
        transport.write(b"STARTTLS")
        go = await proto.take(2)
        proto.transport = await loop.start_tls(
            transport, proto, client_ctx, server_hostname="localhost"
        )
        proto.transport.write(b"hello")
        reply = await proto.take(5)
        client = tls_facts(proto.transport.get_extra_info("ssl_object"))
        starttls, hello, server_facts = await served
        proto.transport.close()
        server.close()
        await server.wait_closed()
        return {
            "clear": {"client got": go.decode(), "server got": starttls.decode()},
            "tls": {"client got": reply.decode(), "server got": hello.decode()},
            "client": client,
            "server": server_facts,
        }

    return asyncio_run(ca, server_chain, main)


@scenario
def asyncio_echo(ca, server_chain, size):
    """asyncio.open_connection(ssl=...) sends ``size`` random bytes to
    asyncio.start_server(ssl=...), which echoes them as they come (both
    directions at once) and then closes; each end hashes what it got."""
    import asyncio

    data = payload(size)
    chunk = 1 << 20

    async def digest_of(reader, size, echo=None):
        digest, count = hashlib.sha256(), 0
        while count < size:
            block = await reader.read(chunk)
            if not block:
                break
            digest.update(block)
            count += len(block)
            if echo is not None:
                echo.write(block)
                await echo.drain()
        return {"bytes": count, "sha256": digest.hexdigest()}

    async def main(server_ctx, client_ctx):
        served = asyncio.get_running_loop().create_future()

        async def handle(reader, writer):
            received = await digest_of(reader, size, echo=writer)
            served.set_result(
                (received, tls_facts(writer.get_extra_info("ssl_object")))
            )
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(
            "localhost", port, ssl=client_ctx
        )

        async def send():
            for start in range(0, size, chunk):
                writer.write(data[start : start + chunk])
                await writer.drain()

        sending = asyncio.ensure_future(send())
        echoed = await digest_of(reader, size)
        await sending
        ssl_object = writer.get_extra_info("ssl_object")
        client = {**tls_facts(ssl_object), "san": san(ssl_object.getpeercert())}
        server_received, server_facts = await served
        after = await reader.read()  # up to the server's close_notify
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return {
            "sent": {"bytes": size, "sha256": hashlib.sha256(data).hexdigest()},
            "server received": server_received,
            "client received": echoed,
            "client read after the echo": after.decode(),
            "client": client,
            "server": server_facts,
        }

    return asyncio_run(ca, server_chain, main)


# ---- injection and extraction, observed ---------------------------------------


_MISSING = object()


def _modules():
    """Every module in sys.modules once (aliases aside), pyssl's own left out."""
    unique = {id(m): m for m in sys.modules.values() if isinstance(m, types.ModuleType)}
    return [m for m in unique.values() if not m.__name__.startswith("pyssl")]


# Values the stdlib and pyssl both hold as data, equal rather than the same
# object: version numbers, names, tables.
_PLAIN_DATA = (str, int, bool, float, bytes, tuple, list, dict)


def _stdlib_ssl_objects(stdlib):
    """ids of the stdlib ssl's own objects: the ssl and _ssl modules and
    what they hold that pyssl offers, under the same name, as an object of
    its own (not what both import, such as socket's constants). Told by
    name, not by ``__module__``: Python 3.10 names no module for ssl.Purpose."""
    import pyssl
    import pyssl._ssl

    ours = {"ssl": pyssl, "_ssl": pyssl._ssl}
    owned = {id(m) for m in stdlib.values()}
    for name, module in stdlib.items():
        for attr, value in vars(module).items():
            counterpart = getattr(ours[name], attr, _MISSING)
            if (
                counterpart is not _MISSING
                and counterpart is not value
                and type(value) not in _PLAIN_DATA
                and not isinstance(value, types.ModuleType)
                and not attr.startswith("__")
            ):
                owned.add(id(value))
    return owned


def _is_counterpart(old, new, stdlib):
    """Whether ``new`` is pyssl's object for the stdlib's ``old``: pyssl for
    ssl, pyssl._ssl for _ssl, the same name's object in either, or a tuple
    of such."""
    import pyssl
    import pyssl._ssl

    ours = {"ssl": pyssl, "_ssl": pyssl._ssl}
    if type(old) is tuple:
        return (
            type(new) is tuple
            and len(old) == len(new)
            and all(
                a is b or _is_counterpart(a, b, stdlib)
                for a, b in zip(old, new, strict=True)
            )
        )
    for name, module in stdlib.items():
        if old is module:
            return new is ours[name]
        if any(
            value is old and getattr(ours[name], attr, None) is new
            for attr, value in vars(module).items()
        ):
            return True
    return False


@scenario
def star_import_then_inject():
    """A module that did ``from ssl import *`` and ``from ssl import
    Purpose`` while ssl was the stdlib's, then the injection: its names
    that still hold the stdlib ssl's own objects, and whether Purpose is
    pyssl's."""
    import pyssl

    module = types.ModuleType("uses_ssl_names")
    exec("from ssl import *\nfrom ssl import Purpose", vars(module))  # noqa: S102
    sys.modules[module.__name__] = module
    stdlib = {n: sys.modules[n] for n in ("ssl", "_ssl")}
    owned = _stdlib_ssl_objects(stdlib)
    pyssl.inject_into_stdlib()
    return {
        "still_stdlib": sorted(
            name for name, value in vars(module).items() if id(value) in owned
        ),
        "Purpose is pyssl's": module.Purpose is pyssl.Purpose,
    }


def _import_ssl():
    """What ``import ssl`` and ``import _ssl`` give, and the class of the
    context ``ssl.SSLContext()`` makes."""
    try:
        ssl, _ssl = importlib.import_module("ssl"), importlib.import_module("_ssl")
    except ImportError as exc:
        return f"{type(exc).__name__}: {exc}"
    return [ssl.__name__, _ssl.__name__, kind(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))]


@scenario
def inject_extract(steps):
    """Apply ``steps`` ("inject" / "extract") in turn. After each, compared
    by identity with before the first: the sys.modules keys and the module
    globals (of every module there was, the stdlib ssl's included) that
    changed; the changed ones that are not pyssl's counterpart of what they
    held; while injected, the globals still holding the stdlib ssl's own
    objects; what ``import ssl`` gives; is_injected()."""
    import pyssl
    import pyssl._ssl

    stdlib = {
        n: m
        for n in ("ssl", "_ssl")
        if isinstance(m := sys.modules.get(n), types.ModuleType)
    }
    owned = _stdlib_ssl_objects(stdlib)
    modules_before = dict(sys.modules)
    initial = [(module, dict(vars(module))) for module in _modules()]
    report = []
    for step in steps:
        {"inject": pyssl.inject_into_stdlib, "extract": pyssl.extract_from_stdlib}[
            step
        ]()
        changed = {}
        for module, old in initial:
            new = vars(module)
            for name in old.keys() | new.keys():
                if old.get(name, _MISSING) is not new.get(name, _MISSING):
                    changed[f"{module.__name__}.{name}"] = (
                        old.get(name),
                        new.get(name),
                    )
        holders = [
            f"{module.__name__}.{name}"
            for module in _modules()
            if module not in stdlib.values()
            for name, value in vars(module).items()
            if any(
                id(item) in owned
                for item in (value if type(value) is tuple else (value,))
            )
        ]
        report.append(
            {
                "step": step,
                "sys.modules": sorted(
                    k
                    for k in modules_before.keys() | sys.modules.keys()
                    if modules_before.get(k, _MISSING)
                    is not sys.modules.get(k, _MISSING)
                ),
                "globals": sorted(changed),
                "not_pyssl_counterpart": sorted(
                    label
                    for label, (old, new) in changed.items()
                    if not _is_counterpart(old, new, stdlib)
                ),
                "still_stdlib": sorted(holders) if pyssl.is_injected() else [],
                "import ssl": _import_ssl(),
                "injected": pyssl.is_injected(),
            }
        )
    return {"steps": report}


# Modules that LazyLoader makes, and what each runs once first used.
LAZY_SOURCES = {
    "lazy_broken": "raise RuntimeError('broken on first use')\n",
    # Imports, once used, a module that imports ssl.
    "lazy_outer": "import lazy_inner\nUSED = True\n",
}
LAZY_INNER = "import ssl\nfrom ssl import SSLContext\n"


def _lazy_import(name):
    """``name`` made by importlib.util.LazyLoader: in sys.modules, its code
    run only when an attribute is first looked up."""
    spec = importlib.util.find_spec(name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def _ssl_state():
    """Whose ssl the program sees: what ``import ssl`` gives, is_injected(),
    and http.client's ssl."""
    import pyssl

    return {
        "import ssl": _import_ssl(),
        "injected": pyssl.is_injected(),
        "http.client.ssl": sys.modules["http.client"].ssl.__name__,
    }


@scenario
def inject_with_lazy_modules(directory, lazy):
    """Modules ``lazy`` (names of LAZY_SOURCES), made by LazyLoader and not
    used yet, when pyssl is injected: what the injection raised, which of
    them it loaded, the state after it; then, each used: what it raised,
    and the ssl that the modules it imported hold."""
    import pyssl

    sources = {**LAZY_SOURCES, "lazy_inner": LAZY_INNER}
    for name, source in sources.items():
        with open(os.path.join(directory, f"{name}.py"), "w") as f:
            f.write(source)
    sys.path.insert(0, directory)
    modules = {name: _lazy_import(name) for name in lazy}
    try:
        pyssl.inject_into_stdlib()
        raised = None
    except Exception as exc:
        raised = f"{type(exc).__name__}: {exc}"
    lazy_type = importlib.util._LazyModule
    report = {
        "inject raised": raised,
        "loaded by inject": sorted(
            n for n, m in modules.items() if type(m) is not lazy_type
        ),
        **_ssl_state(),
    }
    used = {}
    for name, module in modules.items():
        try:
            used[name] = module.USED
        except Exception as exc:
            used[name] = f"{type(exc).__name__}: {exc}"
    report["used"] = used
    inner = sys.modules.get("lazy_inner")
    if inner is not None:
        report["lazy_inner"] = [inner.ssl.__name__, inner.SSLContext.__module__]
    return report


@scenario
def interrupted(operation):
    """``operation`` ("inject" or "extract", after an injection) stopped by
    an exception half-way through rebinding the globals; then the same
    operation again. After each: the sys.modules entries and the globals
    that differ from before the first, and whose ssl the program sees."""
    import pyssl
    import pyssl._stdlib as switch

    if operation == "extract":
        pyssl.inject_into_stdlib()
    modules_before = dict(sys.modules)
    initial = [(module, dict(vars(module))) for module in _modules()]

    def state():
        changed = sorted(
            f"{module.__name__}.{name}"
            for module, old in initial
            for name in old.keys() | vars(module).keys()
            if old.get(name, _MISSING) is not vars(module).get(name, _MISSING)
        )
        entries = sorted(
            k
            for k in modules_before.keys() | sys.modules.keys()
            if modules_before.get(k, _MISSING) is not sys.modules.get(k, _MISSING)
        )
        return {"sys.modules": entries, "globals": changed, **_ssl_state()}

    class Interrupted(Exception):
        pass

    # Fails once two globals are rebound, or put back.
    if operation == "inject":
        name, original = "_swap", switch._swap
        rebound = [0]

        def replacement(value, table):
            if rebound[0] == 2:
                raise Interrupted
            new = original(value, table)
            rebound[0] += new is not switch._MISSING
            return new
    else:
        name, original = "_undo", switch._undo

        def replacement(done):
            original(done[-2:])
            raise Interrupted

    setattr(switch, name, replacement)
    try:
        {"inject": pyssl.inject_into_stdlib, "extract": pyssl.extract_from_stdlib}[
            operation
        ]()
        raised = None
    except Interrupted:
        raised = "Interrupted"
    finally:
        setattr(switch, name, original)
    report = {"raised": raised, "after": state()}
    {"inject": pyssl.inject_into_stdlib, "extract": pyssl.extract_from_stdlib}[
        operation
    ]()
    report["again"] = state()
    return report


# ---- client libraries against the test process's servers -----------------------


def _http_client(url, ca, cert):
    import http.client
    import ssl
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert)
    conn = http.client.HTTPSConnection(
        parts.hostname, parts.port, context=ctx, timeout=TIMEOUT
    )
    try:
        conn.request(
            "GET", f"{parts.path}?{parts.query}" if parts.query else parts.path
        )
        response = conn.getresponse()
        return response.status, response.read(), tls_facts(conn.sock)
    finally:
        conn.close()


def _urlopen(url, ca, cert):
    import ssl
    import urllib.request

    # The default context trusts the CA OpenSSL finds through SSL_CERT_FILE,
    # as for any program configured through the environment.
    os.environ["SSL_CERT_FILE"] = ca
    context = None
    if cert:
        context = ssl.create_default_context()
        context.load_cert_chain(cert)
    with urllib.request.urlopen(url, context=context, timeout=TIMEOUT) as response:
        facts = tls_facts(response.fp.raw._sock)  # gone once the body is read
        return response.status, response.read(), facts


def _urllib3(url, ca, cert):
    import urllib3

    with urllib3.PoolManager(
        ca_certs=ca, cert_file=cert, retries=False, timeout=TIMEOUT
    ) as pool:
        response = pool.request("GET", url, preload_content=False)
        facts = tls_facts(response.connection.sock)
        body = response.read()
        response.release_conn()
        return response.status, body, facts


def _requests(url, ca, cert):
    import requests

    with requests.Session() as session:
        response = session.get(url, verify=ca, cert=cert, stream=True, timeout=TIMEOUT)
        facts = tls_facts(response.raw.connection.sock)
        return response.status_code, response.content, facts


HTTP_CLIENTS = {
    "http.client": _http_client,
    "urlopen": _urlopen,
    "urllib3": _urllib3,
    "requests": _requests,
}


@scenario
def https_get(client, url, ca, cert=None):
    """GET ``url`` with a client library, verifying the server with ``ca``
    and presenting the ``cert`` chain if given."""
    try:
        status, body, facts = HTTP_CLIENTS[client](url, ca, cert)
    except Exception as exc:
        return tls_failure(exc)
    return {"status": status, "body": json.loads(body), **facts}


@scenario
def https_via_proxy(client, url, proxy, ca):
    """GET ``url`` through the HTTPS proxy ``proxy`` (TLS inside TLS: the
    tunnel's TLS is a socket, the server's an SSLObject over it)."""
    import ssl

    if client == "urllib3":
        import urllib3

        manager = urllib3.ProxyManager(
            proxy,
            ca_certs=ca,
            retries=False,
            timeout=TIMEOUT,
            proxy_ssl_context=ssl.create_default_context(cafile=ca),
        )
        with manager:
            response = manager.request("GET", url, preload_content=False)
            transport = response.connection.sock
            status, body = response.status, response.read()
            response.release_conn()
    else:
        import requests

        with requests.Session() as session:
            response = session.get(
                url, proxies={"https": proxy}, verify=ca, stream=True, timeout=TIMEOUT
            )
            transport = response.raw.connection.sock
            status, body = response.status_code, response.content
    return {
        "status": status,
        "body": json.loads(body),
        "transport": kind(transport),
        "tunnel": tls_facts(transport.socket),
        "inner": tls_facts(transport.sslobj),
    }


def _smtp(port, ctx):
    import smtplib

    with smtplib.SMTP("localhost", port, timeout=TIMEOUT) as smtp:
        smtp.starttls(context=ctx)
        refused = smtp.sendmail(
            "from@example.org", ["to@example.org"], "Subject: hi\r\n\r\nover TLS\r\n"
        )
        return {"refused": refused, **tls_facts(smtp.sock)}


def _imap(port, ctx):
    import imaplib

    imap = imaplib.IMAP4_SSL("localhost", port, ssl_context=ctx, timeout=TIMEOUT)
    result = {
        "noop": imap.noop()[0],
        "capabilities": list(imap.capabilities),
        **tls_facts(imap.sock),
    }
    imap.logout()
    return result


def _pop3(port, ctx):
    import poplib

    pop = poplib.POP3_SSL("localhost", port, context=ctx, timeout=TIMEOUT)
    result = {
        "welcome": pop.welcome.decode(),
        "stat": list(pop.stat()),
        **tls_facts(pop.sock),
    }
    pop.quit()
    return result


def _ftp(port, ctx):
    import ftplib

    ftp = ftplib.FTP_TLS(context=ctx, timeout=TIMEOUT)
    ftp.connect("localhost", port)
    ftp.login()
    ftp.prot_p()
    result = {"welcome": ftp.welcome, **tls_facts(ftp.sock)}
    ftp.quit()
    return result


def _xmlrpc(port, ctx):
    import xmlrpc.client

    with xmlrpc.client.ServerProxy(f"https://localhost:{port}/", context=ctx) as proxy:
        reversed_text = proxy.reverse("pyssl")
        # The keep-alive connection the call went over.
        return {
            "reverse": reversed_text,
            **tls_facts(proxy("transport")._connection[1].sock),
        }


PROTOCOL_CLIENTS = {
    "smtplib": _smtp,
    "imaplib": _imap,
    "poplib": _pop3,
    "ftplib": _ftp,
    "xmlrpc.client": _xmlrpc,
}


@scenario
def protocol_client(module, port, ca):
    """Talk to the test server on ``port`` with a stdlib module's TLS client
    (SMTP STARTTLS, IMAP4_SSL, POP3_SSL, FTP_TLS, XML-RPC over HTTPS)."""
    import ssl

    return PROTOCOL_CLIENTS[module](port, ssl.create_default_context(cafile=ca))


def main(setup, name, args, scenarios=SCENARIOS, preload=PRELOAD):
    steps = set(setup.split("+")) - {"none"}
    report = {"setup": setup}
    if "block" in steps:
        try:
            import ssl  # noqa: F401
        except ImportError as exc:
            report["stdlib_ssl_import"] = f"{type(exc).__name__}: {exc}"
        else:
            report["stdlib_ssl_import"] = "imported"
    if "preload" in steps:
        for module in preload:
            if importlib.util.find_spec(module.split(".")[0]) is not None:
                importlib.import_module(module)
    if "inject" in steps:
        import pyssl

        pyssl.inject_into_stdlib()
    report.update(scenarios[name](**args))
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
