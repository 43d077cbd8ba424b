"""inject_into_stdlib(), extract_from_stdlib() and is_injected(), and the
PYSSL_INJECT start-up switch.

Every test runs its interpreter through ``injected_driver.py`` (a fresh
process per test) so that this process's modules are never switched.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from injected_driver import BLOCKED_IMPORT, run
from loopback_servers import (
    HTTPSServer,
    ftp_responder,
    imap_responder,
    pop3_responder,
    xmlrpc_server,
)
from peers import TIMEOUT, server_context
from ssl_modules import needs_stdlib_ssl

import pyssl

HAS_URLLIB3 = importlib.util.find_spec("urllib3") is not None

# The globals of stdlib modules that hold the stdlib ssl's objects once
# they are imported (the driver preloads them): injection rebinds exactly
# these.
STDLIB_REBOUND = sorted(
    [
        "asyncio.base_events.ssl",
        "asyncio.selector_events.ssl",
        "asyncio.sslproto.ssl",
        "ftplib._SSLSocket",
        "ftplib.all_errors",
        "ftplib.ssl",
        "http.client.ssl",
        "imaplib.ssl",
        "poplib.ssl",
        "smtplib.ssl",
        "urllib.request.ssl",
    ]
    + (["asyncio.sslproto.SSLAgainErrors"] if sys.version_info >= (3, 11) else [])
)
# A few of urllib3's, whatever its version.
URLLIB3_REBOUND = {
    "urllib3.connection.BaseSSLError",
    "urllib3.connection.ssl",
    "urllib3.util.ssl_.SSLContext",
    "urllib3.util.ssltransport.ssl",
}


def expected_state(step, setup):
    """What inject_extract reports after ``step``, relative to the start."""
    if step == "extract":
        return {
            "step": step,
            "sys.modules": [],
            "globals": [],
            "not_pyssl_counterpart": [],
            "still_stdlib": [],
            "injected": False,
            "import ssl": ["ssl", "_ssl", "ssl.SSLContext"]
            if setup == "preload"
            else BLOCKED_IMPORT,
        }
    return {
        "step": step,
        "sys.modules": ["_ssl", "ssl"],
        "globals": STDLIB_REBOUND if setup == "preload" else [],
        "not_pyssl_counterpart": [],
        "still_stdlib": [],
        "injected": True,
        "import ssl": ["pyssl", "pyssl._ssl", "pyssl.SSLContext"],
    }


def preloaded(steps):
    """The stdlib ssl imported first: impossible where there is none."""
    return pytest.param(
        "preload", steps, marks=needs_stdlib_ssl, id="preload-" + ",".join(steps)
    )


@needs_stdlib_ssl
def test_names_imported_from_the_stdlib_ssl_are_rebound():
    """Every name a module took from the stdlib's ssl, enums included
    (Python 3.10 names no module for ssl.Purpose), is pyssl's after the
    injection."""
    result = run("preload", "star_import_then_inject")
    assert (result["still_stdlib"], result["Purpose is pyssl's"]) == ([], True)


@pytest.mark.parametrize(
    ("setup", "steps"),
    [
        preloaded(["inject", "extract"]),
        preloaded(["inject", "inject", "extract"]),  # inject is idempotent
        preloaded(["extract"]),  # extract without inject does nothing
        preloaded(["extract", "inject", "extract", "extract"]),
        preloaded(["inject", "extract", "inject", "extract"]),
        # _ssl blocked: sys.modules['_ssl'] is None again afterwards.
        pytest.param("block", ["inject", "extract"], id="block-inject,extract"),
    ],
)
def test_inject_rebinds_and_extract_restores_by_identity(setup, steps):
    """After each step, compared by identity with before the first: the
    sys.modules entries and the globals of every module that changed (the
    stdlib ssl's own must not); each rebound global must hold pyssl's object
    of the same name, no global may still hold one of the stdlib ssl's
    objects while injected, and ``import ssl`` gives pyssl exactly then."""
    result = run(setup, "inject_extract", steps=steps)
    reports = result["steps"]
    for report in reports:
        third_party = {
            n for n in report["globals"] if n.startswith(("urllib3", "requests"))
        }
        if setup == "preload" and report["injected"] and HAS_URLLIB3:
            assert URLLIB3_REBOUND <= third_party
        report["globals"] = sorted(set(report["globals"]) - third_party)
    assert reports == [expected_state(step, setup) for step in steps]


PYSSL_STATE = {
    "import ssl": ["pyssl", "pyssl._ssl", "pyssl.SSLContext"],
    "injected": True,
    "http.client.ssl": "pyssl",
}
STDLIB_STATE = {
    "import ssl": ["ssl", "_ssl", "ssl.SSLContext"],
    "injected": False,
    "http.client.ssl": "ssl",
}


@needs_stdlib_ssl
def test_inject_does_not_load_a_lazy_module_that_fails_to_load(tmp_path):
    """A module LazyLoader made, and nothing used yet, fails when it is
    loaded. The injection must not load it: it switches everything, and
    the module fails only when used, as it would have without pyssl."""
    result = run(
        "preload",
        "inject_with_lazy_modules",
        directory=str(tmp_path),
        lazy=["lazy_broken"],
    )
    assert result == {
        "setup": "preload",
        "inject raised": None,
        "loaded by inject": [],
        **PYSSL_STATE,
        "used": {"lazy_broken": "RuntimeError: broken on first use"},
    }


@needs_stdlib_ssl
def test_a_lazy_module_used_after_the_injection_imports_pyssl(tmp_path):
    """A module LazyLoader made, not used yet, that imports (once used) a
    module that imports ssl: that module gets pyssl."""
    result = run(
        "preload",
        "inject_with_lazy_modules",
        directory=str(tmp_path),
        lazy=["lazy_outer"],
    )
    assert result == {
        "setup": "preload",
        "inject raised": None,
        "loaded by inject": [],
        **PYSSL_STATE,
        "used": {"lazy_outer": True},
        "lazy_inner": ["pyssl", "pyssl"],
    }


@needs_stdlib_ssl
@pytest.mark.parametrize("operation", ["inject", "extract"])
def test_an_interrupted_switch_leaves_everything_as_it_was(operation):
    """inject_into_stdlib() or extract_from_stdlib() stopped by an exception
    after two globals were switched: every global and sys.modules entry is
    as before the call, and so is is_injected(); the next call switches
    everything."""
    result = run("preload", "interrupted", operation=operation)
    unchanged = {"sys.modules": [], "globals": []}
    before, after = (
        (STDLIB_STATE, PYSSL_STATE)
        if operation == "inject"
        else (PYSSL_STATE, STDLIB_STATE)
    )
    assert result["raised"] == "Interrupted"
    assert result["after"] == {**unchanged, **before}
    again = result["again"]
    assert set(again.pop("globals")) >= set(STDLIB_REBOUND)
    assert again == {"sys.modules": ["_ssl", "ssl"], **after}


def test_blocked_ssl_process_makes_verified_handshakes(certs):
    result = run(
        "block+inject", "handshake", ca=certs.ca, server_chain=certs.server_chain
    )
    assert result["stdlib_ssl_import"] == BLOCKED_IMPORT
    assert (result["ssl"], result["_ssl"], result["reply"]) == (
        "pyssl",
        "pyssl._ssl",
        "HELLO",
    )
    assert result["client"] == {
        "socket": "pyssl.SSLSocket",
        "version": "TLSv1.3",
        "san": [
            ["DNS", "localhost"],
            ["IP Address", "127.0.0.1"],
            ["IP Address", "0:0:0:0:0:0:0:1"],
        ],
    }
    assert result["server"] == {"socket": "pyssl.SSLSocket"}
    assert result["pyssl_file"] == pyssl.__file__


@needs_stdlib_ssl
def test_stdlib_contexts_made_before_injection_keep_working(certs):
    # Objects the stdlib made before the switch stay the stdlib's; the
    # switch must not rewrite the stdlib ssl module those objects use.
    result = run(
        "preload",
        "handshake",
        ca=certs.ca,
        server_chain=certs.server_chain,
        inject_between=True,
    )
    assert (result["ssl"], result["reply"]) == ("pyssl", "HELLO")
    assert result["client"]["socket"] == result["server"]["socket"] == "ssl.SSLSocket"
    assert result["client"]["version"] == "TLSv1.3"


# ---- modules imported before the injection connect through pyssl -------------
# (http.client, urllib.request, asyncio and smtplib: test_real_clients.py)


PROTOCOLS = {
    "imaplib": (
        imap_responder,
        ["CAPABILITY TLSv1.3", "NOOP TLSv1.3", "LOGOUT TLSv1.3"],
        {"noop": "OK", "capabilities": ["IMAP4REV1"]},
    ),
    "poplib": (
        pop3_responder,
        ["STAT TLSv1.3", "QUIT TLSv1.3"],
        {"welcome": "+OK POP3 ready", "stat": [2, 320]},
    ),
    "ftplib": (
        ftp_responder,
        ["AUTH clear", "USER TLSv1.3", "PBSZ TLSv1.3", "PROT TLSv1.3", "QUIT TLSv1.3"],
        {"welcome": "220 FTP ready"},
    ),
}


@needs_stdlib_ssl
@pytest.mark.parametrize("module", list(PROTOCOLS))
def test_mail_and_ftp_modules_imported_before_injection_use_pyssl(serve, certs, module):
    responder, verbs, answers = PROTOCOLS[module]
    server = serve(responder(server_context(pyssl, certs)))
    result = run(
        "preload+inject",
        "protocol_client",
        module=module,
        port=server.port,
        ca=certs.ca,
    )
    assert server.join() == [verbs]  # each command, with the TLS version it came under
    assert result == {
        "setup": "preload+inject",
        **answers,
        "socket": "pyssl.SSLSocket",
        "context": "pyssl.SSLContext",
        "version": "TLSv1.3",
    }


@needs_stdlib_ssl
def test_xmlrpc_client_imported_before_injection_uses_pyssl(certs):
    server = HTTPSServer(server_context(pyssl, certs), xmlrpc_server())
    try:
        result = run(
            "preload+inject",
            "protocol_client",
            module="xmlrpc.client",
            port=server.port,
            ca=certs.ca,
        )
    finally:
        server.close()
    assert result == {
        "setup": "preload+inject",
        "reverse": "lssyp",
        "socket": "pyssl.SSLSocket",
        "context": "pyssl.SSLContext",
        "version": "TLSv1.3",
    }


# ---- PYSSL_INJECT=1 in an environment where pyssl is pip-installed ------------

SOURCE = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed_venv(tmp_path_factory):
    """A new virtual environment with pyssl installed by pip from this
    source tree (a copy of it, so that the build leaves the tree alone)."""
    if not (SOURCE / "setup.py").is_file() or not (SOURCE / "pyssl").is_dir():
        pytest.skip("the pyssl source tree is not next to the tests")
    base = tmp_path_factory.mktemp("installed")
    source = base / "source"
    shutil.copytree(
        SOURCE,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            "build",
            "dist",
            "*.egg-info",
            "__pycache__",
            "*.so",
            ".venv*",
            ".*_cache",
        ),
    )
    venv.create(base / "venv", with_pip=True)
    python = str(base / "venv" / "bin" / "python")
    done = subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return python


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        (None, "ssl _ssl stdlib"),
        ("0", "ssl _ssl stdlib"),
        ("1", "pyssl pyssl._ssl site-packages"),
    ],
)
def test_slow_startup_switch_in_pip_installed_venv(
    installed_venv, tmp_path, variable, expected
):
    """Slow (a venv and a pip build, about 10 s, made once for the module): the .pth
    file pip installed makes ``import ssl`` give pyssl in every interpreter
    of the environment when PYSSL_INJECT=1, and the stdlib otherwise."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYSSL_", "PYTHON"))
    }
    if variable is not None:
        env["PYSSL_INJECT"] = variable
    code = (
        "import ssl, _ssl, sysconfig; "
        "where = 'site-packages' if ssl.__file__.startswith(sysconfig.get_paths()['purelib']) "
        "else 'stdlib' if ssl.__file__.startswith(sysconfig.get_paths()['stdlib']) else ssl.__file__; "
        "print(ssl.__name__, _ssl.__name__, where)"
    )
    done = subprocess.run(
        [installed_venv, "-c", code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert (done.stdout.strip(), done.stderr) == (expected, "")


def test_slow_startup_switch_makes_verified_handshakes(installed_venv, certs):
    """Slow (shares the pip-installed venv): with PYSSL_INJECT=1 the
    installed pyssl, switched in at start-up, does a verified handshake."""
    result = run(
        "none",
        "handshake",
        python=installed_venv,
        env={"PYSSL_INJECT": "1"},
        ca=certs.ca,
        server_chain=certs.server_chain,
    )
    assert (result["ssl"], result["_ssl"], result["reply"]) == (
        "pyssl",
        "pyssl._ssl",
        "HELLO",
    )
    assert result["pyssl_file"].startswith(str(Path(installed_venv).parent.parent))
    assert result["client"]["socket"] == result["server"]["socket"] == "pyssl.SSLSocket"
    assert result["client"]["version"] == "TLSv1.3"
