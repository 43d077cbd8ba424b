"""pytest plugin for .ci/urllib3_tls_suite, loaded with ``-p urllib3_tls_plugin``
into a run of urllib3's own tests.

- Loopback only: from import on, ``socket.socket.connect``/``connect_ex``
  refuse any address that is not loopback (ENETUNREACH), and host names
  are resolved only when /etc/hosts gives them a loopback address, from
  that address, in lookups and in connect/bind alike (any other name is
  EAI_NONAME): no packet and no DNS query leaves the machine.
  Tests that aim at urllib3's non-routable TARPIT_HOST, or that are marked
  ``requires_network``, are deselected before they run.
- Which ``ssl`` is in use is asserted, not assumed (URLLIB3_TLS_EXPECT is
  "stdlib" or "pyssl"): at start, in a thread and in a child interpreter;
  after collection, no imported module may hold the other module's objects;
  before each test, ``sys.modules["ssl"]`` is checked again; at the end, the
  stdlib's ``ssl.py`` and C ``_ssl`` must never have been loaded in a pyssl
  run, nor pyssl in a stdlib run.
- Every test's outcome is written to URLLIB3_TLS_REPORT (JSON, by node id),
  with the text of each failure, for the runner to compare.
"""

from __future__ import annotations

import contextvars
import errno
import inspect
import ipaddress
import json
import os
import socket
import subprocess
import sys
import sysconfig
import threading
from types import ModuleType

import pytest

EXPECT = os.environ.get("URLLIB3_TLS_EXPECT", "")
REPORT = os.environ.get("URLLIB3_TLS_REPORT", "")
if EXPECT not in ("stdlib", "pyssl"):
    raise RuntimeError("URLLIB3_TLS_EXPECT must be 'stdlib' or 'pyssl'")


# ---- loopback only ------------------------------------------------------------


def _loopback_hosts() -> dict[str, list[str]]:
    """The names /etc/hosts gives loopback addresses, with those addresses."""
    hosts: dict[str, list[str]] = {}
    try:
        with open("/etc/hosts") as lines:
            for line in lines:
                fields = line.split("#", 1)[0].split()
                if len(fields) >= 2 and _is_loopback_ip(fields[0]):
                    for name in fields[1:]:
                        hosts.setdefault(name.lower(), []).append(fields[0])
    except OSError:
        pass
    return hosts or {"localhost": ["127.0.0.1"]}


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _is_loopback_ip(text: str) -> bool:
    address = _ip(text)
    if address is None:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


LOOPBACK_HOSTS = _loopback_hosts()
refused: list[str] = []
# What the run saw: outcomes by node id, deselected tests, checks passed.
STATE: dict = {}


def _host_allowed(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    return _is_loopback_ip(host) or host.lower() in LOOPBACK_HOSTS


def _check_address(sock: socket.socket, address: object) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not _host_allowed(host):
        refused.append(f"connect to {address!r}")
        raise OSError(
            errno.ENETUNREACH, f"not loopback, refused by the test run: {address!r}"
        )


def _numeric(sock: socket.socket, address: object, what: str) -> object:
    """``address`` with a host name that /etc/hosts gives a loopback address
    replaced by that address (of the socket's family), so that the socket
    call does not look the name up itself, possibly through DNS; any other
    name is refused as it would be when not found."""
    if (
        sock.family not in (socket.AF_INET, socket.AF_INET6)
        or not isinstance(address, tuple)
        or not address
    ):
        return address
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if (
        not isinstance(host, str)
        or host in ("", "<broadcast>")
        or _ip(host) is not None
    ):
        return address
    want_v6 = sock.family == socket.AF_INET6
    candidates = [
        a for a in LOOPBACK_HOSTS.get(host.lower(), []) if (":" in a) == want_v6
    ]
    if not candidates:
        refused.append(f"{what} {address!r}")
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return (candidates[0], *address[1:])


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_bind = socket.socket.bind


def _guarded_connect(self: socket.socket, address: object) -> None:
    address = _numeric(self, address, "connect to")
    _check_address(self, address)
    return _connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    address = _numeric(self, address, "connect to")
    _check_address(self, address)
    return _connect_ex(self, address)


def _guarded_bind(self: socket.socket, address: object) -> None:
    return _bind(self, _numeric(self, address, "bind to"))


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
socket.socket.bind = _guarded_bind  # type: ignore[method-assign]

_getaddrinfo = socket.getaddrinfo
_gethostbyname = socket.gethostbyname
_gethostbyname_ex = socket.gethostbyname_ex


def _loopback_addresses(host: object) -> list[str] | None:
    """The IP literal(s) to look ``host`` up as: itself if it is one, the
    addresses /etc/hosts gives a loopback name (so that no lookup of it, for
    any address family, goes on to DNS); None for no lookup at all."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if isinstance(host, str):
        if _ip(host) is not None:
            return [host]
        if host.lower() in LOOPBACK_HOSTS:
            return LOOPBACK_HOSTS[host.lower()]
    refused.append(f"lookup of {host!r}")
    return None


def _guarded_getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # type: ignore[no-untyped-def]
    if host is None:
        return _getaddrinfo(host, port, family, type, proto, flags)
    addresses = _loopback_addresses(host)
    results = []
    for address in addresses or []:
        try:
            results += _getaddrinfo(address, port, family, type, proto, flags)
        except socket.gaierror:
            if len(addresses) == 1:
                raise
    if not results:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return results


def _guarded_gethostbyname(host):  # type: ignore[no-untyped-def]
    addresses = [a for a in _loopback_addresses(host) or [] if ":" not in a]
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return _gethostbyname(addresses[0])


def _guarded_gethostbyname_ex(host):  # type: ignore[no-untyped-def]
    if _loopback_addresses(host) is None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return _gethostbyname_ex(host)


socket.getaddrinfo = _guarded_getaddrinfo
socket.gethostbyname = _guarded_gethostbyname
socket.gethostbyname_ex = _guarded_gethostbyname_ex


def _aims_off_machine(item: pytest.Item) -> str | None:
    if item.get_closest_marker("requires_network") is not None:
        return "marked requires_network"
    function = getattr(item, "function", None)
    try:
        source = inspect.getsource(function) if function is not None else ""
    except (OSError, TypeError):
        source = ""
    if "TARPIT_HOST" in source:
        return "connects to TARPIT_HOST"
    return None


# ---- the TLS facts urllib3's test server reports ---------------------------------
# urllib3's test app reads request.scope["extensions"]["tls"]["alpn_protocol"]
# and ["client_cert_name"] (its /alpn_protocol and /certificate routes). Its
# own runs get those from a patched Hypercorn that is not on PyPI; Hypercorn
# 0.15.0 from PyPI gives the app no "tls" extension (those routes answer 500).
# The same facts are added here, taken from the server's TLS stream after
# the handshake: the ALPN protocol it selected, and the subject of the
# client's certificate as "k=v, k=v" (first attribute of each RDN).

_tls_stream: contextvars.ContextVar = contextvars.ContextVar(
    "urllib3_tls_stream", default=None
)


def _tls_extension(stream: object) -> dict | None:
    try:
        alpn_protocol = stream.selected_alpn_protocol()  # type: ignore[attr-defined]
        certificate = stream.getpeercert()  # type: ignore[attr-defined]
    except AttributeError:  # not TLS
        return None
    tls = {"alpn_protocol": alpn_protocol}
    if certificate:
        tls["client_cert_name"] = ", ".join(
            f"{rdn[0][0]}={rdn[0][1]}" for rdn in certificate["subject"]
        )
    return tls


def _add_tls_extension_to_hypercorn() -> str:
    import hypercorn.protocol.http_stream
    import hypercorn.trio.task_group
    import hypercorn.trio.tcp_server

    if '"tls"' in inspect.getsource(hypercorn.protocol.http_stream):
        return "hypercorn reports TLS facts itself"
    server_class = hypercorn.trio.tcp_server.TCPServer
    group_class = hypercorn.trio.task_group.TaskGroup
    run, spawn_app = server_class.run, group_class.spawn_app

    async def run_noting_stream(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        # The app is spawned from this task, which holds the stream.
        _tls_stream.set(self.stream)
        return await run(self, *args, **kwargs)

    async def spawn_app_with_tls(self, app, config, scope, send):  # type: ignore[no-untyped-def]
        stream = _tls_stream.get()
        tls = _tls_extension(stream) if stream is not None else None
        if tls is not None and scope.get("type") == "http":
            scope.setdefault("extensions", {})["tls"] = tls
        return await spawn_app(self, app, config, scope, send)

    server_class.run = run_noting_stream
    group_class.spawn_app = spawn_app_with_tls
    return "hypercorn: the app is given the TLS extension (alpn_protocol, client_cert_name)"


# ---- which ssl ---------------------------------------------------------------


def _ssl_name() -> str:
    import ssl

    return ssl.__name__


def _stdlib_ssl_loaded() -> list[str]:
    """The stdlib's ssl.py or C _ssl, if any module object in sys.modules is
    one of them (whatever name it is under)."""
    paths = sysconfig.get_paths()
    stdlib_ssl = os.path.realpath(os.path.join(paths["stdlib"], "ssl.py"))
    dynload = {
        os.path.realpath(os.path.join(paths[key], "lib-dynload"))
        for key in ("stdlib", "platstdlib")
    }
    found = []
    for name, module in list(sys.modules.items()):
        if not isinstance(module, ModuleType):
            continue
        path = getattr(module, "__file__", None)
        if path is None:
            if module.__name__ in ("ssl", "_ssl"):  # a built-in _ssl
                found.append(f"{name}: {module!r}")
            continue
        real = os.path.realpath(path)
        if real == stdlib_ssl or (
            os.path.basename(real).startswith("_ssl.")
            and os.path.dirname(real) in dynload
        ):
            found.append(f"{name}: {path}")
    return found


def _holders_of_other_ssl() -> list[str]:
    """Globals of imported modules that hold the ssl module not expected, or
    one of its classes or functions."""
    unwanted_prefixes = ("pyssl",) if EXPECT == "stdlib" else ("ssl", "_ssl")
    holders = []
    for module in list(sys.modules.values()):
        if not isinstance(module, ModuleType):
            continue
        if module.__name__.startswith(
            ("pyssl", "urllib3_tls_plugin")
        ) or module.__name__ in ("ssl", "_ssl"):
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, ModuleType):
                owner = value.__name__
            elif (
                isinstance(value, type)
                or inspect.isfunction(value)
                or inspect.isbuiltin(value)
            ):
                owner = getattr(value, "__module__", None) or ""
            else:
                continue
            if owner.split(".")[0] in unwanted_prefixes and (
                EXPECT == "stdlib" or owner in ("ssl", "_ssl")
            ):
                holders.append(f"{module.__name__}.{attr} -> {owner}")
    return holders


def _assert_expected_ssl(where: str) -> None:
    name = _ssl_name()
    want = "pyssl" if EXPECT == "pyssl" else "ssl"
    assert name == want, f"{where}: ssl is {name!r}, expected {want!r}"
    if EXPECT == "pyssl":
        import pyssl

        assert pyssl.is_injected(), f"{where}: pyssl is not injected"
        assert sys.modules["_ssl"].__name__ == "pyssl._ssl", where
    else:
        assert "pyssl" not in sys.modules, (
            f"{where}: pyssl was imported in the stdlib run"
        )


def pytest_configure(config: pytest.Config) -> None:
    _assert_expected_ssl("pytest process")

    seen: dict[str, str] = {}

    def in_thread() -> None:
        seen["ssl"] = _ssl_name()

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    want = "pyssl" if EXPECT == "pyssl" else "ssl"
    assert seen.get("ssl") == want, f"a thread sees ssl as {seen.get('ssl')!r}"

    child = subprocess.run(
        [sys.executable, "-c", "import ssl, _ssl; print(ssl.__name__, _ssl.__name__)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    expected_child = "pyssl pyssl._ssl" if EXPECT == "pyssl" else "ssl _ssl"
    assert child.stdout.split() == expected_child.split(), (
        f"a child interpreter sees {child.stdout.strip()!r} ({child.stderr.strip()})"
    )
    hypercorn_note = _add_tls_extension_to_hypercorn()
    STATE.update(
        {
            "results": {},
            "deselected": {},
            "checks": [
                f"pytest process: ssl is {want}",
                f"thread: ssl is {seen['ssl']}",
                f"child interpreter: {child.stdout.strip()}",
            ],
            "notes": [hypercorn_note],
        }
    )


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    keep, drop = [], []
    for item in items:
        why = _aims_off_machine(item)
        if why is None:
            keep.append(item)
        else:
            drop.append(item)
            STATE["deselected"][item.nodeid] = why
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collection_finish(session: pytest.Session) -> None:
    import urllib3

    site = os.path.dirname(os.path.dirname(os.path.abspath(urllib3.__file__)))
    assert os.path.abspath(site).startswith(os.path.abspath(sys.prefix)), (
        f"urllib3 imported from {urllib3.__file__}, not from the test environment"
    )
    holders = _holders_of_other_ssl()
    assert not holders, "modules hold the other ssl's objects:\n" + "\n".join(holders)
    if EXPECT == "pyssl":
        loaded = _stdlib_ssl_loaded()
        assert not loaded, f"the stdlib's ssl was loaded: {loaded}"
        from urllib3.util import ssl_

        assert ssl_.SSLContext.__module__.startswith("pyssl"), ssl_.SSLContext
    STATE["checks"].append("after collection: no module holds the other ssl's objects")


@pytest.fixture(autouse=True)
def _urllib3_tls_expected_ssl() -> None:
    _assert_expected_ssl("before the test")


def _status(phases: dict[str, pytest.TestReport]) -> str:
    for when in ("setup", "call", "teardown"):
        report = phases.get(when)
        if report is None:
            continue
        if hasattr(report, "wasxfail"):
            return "xfailed" if report.skipped else "xpassed"
        if report.failed:
            return "failed" if when == "call" else "error"
        if report.skipped:
            return "skipped"
    return "passed" if "call" in phases else "error"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    state = STATE["results"].setdefault(report.nodeid, {"phases": {}, "text": []})
    state["phases"][report.when] = report
    if report.failed:
        state["text"].append(f"[{report.when}] {report.longreprtext}")
    elif report.skipped and report.when != "teardown":
        longrepr = report.longrepr
        reason = (
            longrepr[2]
            if isinstance(longrepr, tuple) and len(longrepr) == 3
            else str(longrepr)
        )
        state["text"].append(
            f"[{report.when}] {getattr(report, 'wasxfail', '') or reason}"
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = STATE
    if EXPECT == "pyssl":
        loaded = _stdlib_ssl_loaded()
        assert not loaded, f"the stdlib's ssl was loaded during the run: {loaded}"
        state["checks"].append(
            "at the end: the stdlib's ssl.py and _ssl were never loaded"
        )
    else:
        assert "pyssl" not in sys.modules, "pyssl was imported during the stdlib run"
        state["checks"].append("at the end: pyssl was never imported")
    if not REPORT:
        return
    results = {
        nodeid: {"status": _status(entry["phases"]), "text": "\n".join(entry["text"])}
        for nodeid, entry in state["results"].items()
    }
    with open(REPORT, "w") as out:
        json.dump(
            {
                "expect": EXPECT,
                "ssl": _ssl_name(),
                "python": sys.version.split()[0],
                "exitstatus": int(exitstatus),
                "checks": state["checks"],
                "notes": state["notes"],
                "deselected": state["deselected"],
                "refused": sorted(set(refused)),
                "results": results,
            },
            out,
            indent=1,
        )
