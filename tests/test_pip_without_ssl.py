"""pip on pyssl in a CPython that has no ``_ssl`` module at all.

The interpreter is a copy of this Python's pyenv installation with
``lib-dynload/_ssl*.so`` left out, so that nothing but pyssl can do TLS in
it. A venv of that copy gets pyssl (built from this checkout) and a pip,
both from local wheels only; then, with pyssl injected (``PYSSL_INJECT=1``),
that pip installs a package from a PEP 503 index served over HTTPS on
127.0.0.1: verified against the CA given with ``--cert``, and refused when
``--cert`` names another CA.

Two pips: since 24.2 pip verifies HTTPS only through its vendored
truststore, whose ``SSLContext`` subclasses ``ssl.SSLContext`` and sets
``verify_mode``, ``options``, ``verify_flags`` and the version bounds
through the C base type under it
(``super(ssl.SSLContext, ssl.SSLContext).verify_mode.__set__(ctx, ...)``),
so that class layout must be the stdlib's; 23.2.1, from before truststore,
verifies through ``ssl.SSLContext`` as urllib3 configures it, and so
checks the rest of the way on its own.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from peers import TIMEOUT
from ssl_modules import STDLIB_SSL

import pyssl

SOURCE = Path(__file__).resolve().parent.parent
VERSION = platform.python_version()
MINOR = f"{sys.version_info[0]}.{sys.version_info[1]}"

# pip version -> whether that pip verifies HTTPS through truststore: a pip
# from before pip had truststore, and the newest pip when this was written
# (pinned, so that a new pip release cannot change the result unseen).
PIPS = {"23.2.1": False, "26.3": True}
TRUSTSTORE_ALWAYS_SINCE = (24, 2)

PACKAGE = "loopback-probe"
WHEEL = "loopback_probe-1.0-py3-none-any.whl"
GREETING = "installed by pip over pyssl"

# What each pip run may take: a cold pip on two shared cores, plus the
# handshakes; far more than it needs, but a hang still fails the test.
RUN_TIMEOUT = 300

pytestmark = [
    pytest.mark.skipif(
        sys.platform == "win32",
        reason="the interpreter copy without _ssl relies on the POSIX layout "
        "(lib/pythonX.Y/lib-dynload)",
    ),
    pytest.mark.skipif(
        not (SOURCE / "setup.py").is_file(),
        reason="runs from a source checkout only: pyssl's wheel for the "
        "venv is built from it",
    ),
]


def isolated_env(**extra: str) -> dict[str, str]:
    """This process's environment without what could send pip elsewhere
    than the addresses on its command line or change what it trusts: pip's
    variables and configuration files (PIP_CONFIG_FILE=/dev/null makes it
    read none), proxies, CA bundles, Python's own variables and pyssl's
    switch; ``extra`` on top."""
    dropped = {
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "requests_ca_bundle",
        "curl_ca_bundle",
        "ssl_cert_file",
        "ssl_cert_dir",
        "virtual_env",
    }
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PIP_", "PYTHON", "PYSSL_"))
        and name.lower() not in dropped
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env.update(extra)
    return env


def run(
    args: list[Any],
    env: dict[str, str],
    cwd: Path | None = None,
    timeout: float = RUN_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pyenv_root() -> Path:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        found = subprocess.run(
            [pyenv, "root"], capture_output=True, text=True, timeout=60
        )
        if found.returncode == 0 and found.stdout.strip():
            return Path(found.stdout.strip())
    return Path.home() / ".pyenv"


# ---- the interpreter, the wheels, the venvs ---------------------------------


@pytest.fixture(scope="session")
def python_without_ssl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a copy of this version's pyenv CPython without its _ssl
    extension module."""
    installed = pyenv_root() / "versions" / VERSION
    executable = installed / "bin" / f"python{MINOR}"
    if not executable.is_file():
        pytest.skip(
            f"no CPython {VERSION} under {installed.parent} (pyenv) to copy "
            "without its _ssl module"
        )
    stdlib = installed / "lib" / f"python{MINOR}"
    ssl_modules = {path.name for path in (stdlib / "lib-dynload").glob("_ssl.*")}
    if not ssl_modules:
        pytest.skip(
            f"{stdlib / 'lib-dynload'} holds no _ssl extension module that a copy "
            "could leave out (built without it, or into the interpreter)"
        )

    def left_out(directory: str, names: list[str]) -> set[str]:
        # The stdlib's own tests and the installation's packages are of no
        # use to pip and would make the copy several times larger.
        if Path(directory) == stdlib:
            return {"test", "site-packages"} & set(names)
        if Path(directory) == stdlib / "lib-dynload":
            return ssl_modules & set(names)
        return set()

    copy = tmp_path_factory.mktemp("cpython-without-ssl") / VERSION
    # The executable too is a copy, not a link to the original: the
    # interpreter looks for its standard library (lib-dynload included)
    # relative to where its executable really is.
    shutil.copytree(installed, copy, symlinks=True, ignore=left_out)
    (copy / "lib" / f"python{MINOR}" / "site-packages").mkdir()
    return copy / "bin" / f"python{MINOR}"


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of every wheel the venvs install: the pips, cffi and
    its dependency for this Python, and pyssl built from this checkout."""
    house = tmp_path_factory.mktemp("wheelhouse")
    # Fetched by this Python's pip from the package index it is set up
    # with, before anything runs in the interpreter without _ssl (which
    # installs from this directory only): pyproject.toml's build
    # requirements, cffi in the range it allows.
    downloads = [[f"pip=={version}", "--no-deps"] for version in PIPS]
    downloads.append(["cffi>=1.16,<2.2", "setuptools>=64", "wheel"])
    for requirements in downloads:
        fetched = run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--disable-pip-version-check",
                "--only-binary=:all:",
                "--dest",
                house,
                *requirements,
            ],
            env=dict(os.environ),
        )
        if fetched.returncode != 0:
            reason = (fetched.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(
                f"this Python's pip could not download {' '.join(requirements)} "
                f"from its package index: {reason}"
            )
    # A copy of the checkout, so that the build leaves nothing in it; the
    # build's own requirements come from the directory too.
    tree = tmp_path_factory.mktemp("pyssl-source") / "pyssl"
    shutil.copytree(
        SOURCE,
        tree,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv*",
            "build",
            "dist",
            "*.egg-info",
            "__pycache__",
            "*.so",
            "*.pyd",
        ),
    )
    built = run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--disable-pip-version-check",
            "--no-cache-dir",
            "--no-index",
            "--find-links",
            house,
            "--no-deps",
            "--wheel-dir",
            house,
            tree,
        ],
        env={
            **isolated_env(),
            **{k: v for k, v in os.environ.items() if k.startswith("PYSSL_OPENSSL")},
        },
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return house


@dataclass(frozen=True)
class Venv:
    python: Path
    pip_version: str


@pytest.fixture(scope="module", params=list(PIPS), ids=[f"pip-{v}" for v in PIPS])
def pip_venv(
    request: pytest.FixtureRequest,
    python_without_ssl: Path,
    wheelhouse: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Venv:
    """A venv of the interpreter without _ssl, holding pyssl and the pip
    under test; nothing else."""
    version = request.param
    directory = tmp_path_factory.mktemp(f"venv-pip-{version}")
    made = run(
        [python_without_ssl, "-m", "venv", "--without-pip", directory],
        env=isolated_env(),
    )
    assert made.returncode == 0, made.stdout + made.stderr
    python = directory / "bin" / "python"
    # The pip under test, run from its own wheel (pip runs from a wheel on
    # its path), installs itself, pyssl and cffi: from the local directory
    # alone (--no-index), since there is no TLS in the venv before pyssl.
    installed = run(
        [
            python,
            wheelhouse / f"pip-{version}-py3-none-any.whl" / "pip",
            "install",
            "--disable-pip-version-check",
            "--no-cache-dir",
            "--no-index",
            "--find-links",
            wheelhouse,
            f"pip=={version}",
            "pyssl-cffi",
        ],
        env=isolated_env(),
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return Venv(python, version)


# ---- the HTTPS index on loopback ----------------------------------------------


def write_wheel(path: Path) -> None:
    """A wheel of one module, with the metadata and RECORD pip checks."""
    dist_info = "loopback_probe-1.0.dist-info"
    files = {
        "loopback_probe.py": f"GREETING = {GREETING!r}\n".encode(),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: 1.0\n".encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: pyssl-tests\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
        f"{len(data)}\n"
        for name, data in files.items()
    )
    files[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)


class HTTPSIndex:
    """A PEP 503 simple index of one package, served over HTTPS on
    127.0.0.1 by a thread of this process. ``requests`` records each HTTP
    request as (method, path, status); ``handshakes`` each TLS connection,
    as the version it negotiated or the error its handshake ended with."""

    def __init__(self, root: Path, server_chain: str) -> None:
        # The stdlib's ssl where there is one, for a server that shares no
        # code with the client under test.
        module = STDLIB_SSL or pyssl
        context = module.SSLContext(module.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(server_chain)
        self.requests: list[tuple[str, str, int]] = []
        self.handshakes: list[str] = []
        index = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(root), **kwargs)

            def log_request(self, code: Any = "-", size: Any = "-") -> None:
                index.requests.append((self.command, self.path, int(code)))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[Any, Any]:
                conn, address = self.socket.accept()
                conn.settimeout(TIMEOUT)
                try:
                    tls = context.wrap_socket(conn, server_side=True)
                except OSError as exc:  # serve_forever() drops the connection
                    conn.close()
                    index.handshakes.append(
                        f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
                    )
                    raise
                index.handshakes.append(tls.version())
                return tls, address

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/simple/"
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self.thread.start()

    def forget(self) -> None:
        self.requests.clear()
        self.handshakes.clear()

    def handshakes_after(self, count: int) -> list[str]:
        """``handshakes`` once it holds ``count`` entries: the server thread
        may still be reading the alert of a client that has already exited."""
        deadline = time.monotonic() + TIMEOUT
        while len(self.handshakes) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.handshakes)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(TIMEOUT)


@pytest.fixture(scope="session")
def https_index(certs: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("index")
    (root / "files").mkdir()
    write_wheel(root / "files" / WHEEL)
    digest = hashlib.sha256((root / "files" / WHEEL).read_bytes()).hexdigest()
    (root / "simple" / PACKAGE).mkdir(parents=True)
    (root / "simple" / "index.html").write_text(
        f'<!DOCTYPE html><html><body><a href="{PACKAGE}/">{PACKAGE}</a></body></html>\n'
    )
    (root / "simple" / PACKAGE / "index.html").write_text(
        f'<!DOCTYPE html><html><body><a href="../../files/{WHEEL}#sha256={digest}">{WHEEL}</a>'
        "</body></html>\n"
    )
    index = HTTPSIndex(root, certs.server_chain)
    yield index
    index.close()


@pytest.fixture
def index(https_index: HTTPSIndex) -> HTTPSIndex:
    """The index, with what earlier tests did to it forgotten."""
    https_index.forget()
    return https_index


def pip_install(
    venv: Venv, index: HTTPSIndex, cafile: str, target: Path
) -> subprocess.CompletedProcess[str]:
    # --target: a fresh directory per run, so that no run finds the package
    # already installed by another; --retries 0: a refused handshake ends
    # the run at once instead of after pip's backoff.
    return run(
        [
            venv.python,
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--no-cache-dir",
            "--retries",
            "0",
            "--timeout",
            "60",
            "--index-url",
            index.url,
            "--cert",
            cafile,
            "--target",
            target,
            PACKAGE,
        ],
        env=isolated_env(PYSSL_INJECT="1"),
    )


# ---- the tests ------------------------------------------------------------------


def test_the_interpreter_copy_has_no_ssl_module(python_without_ssl):
    script = (
        "import sys\n"
        "print(sys.prefix)\n"
        "for name in ('_ssl', 'ssl'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except ImportError as exc:\n"
        "        print(name, '->', type(exc).__name__, exc)\n"
    )
    result = run([python_without_ssl, "-c", script], env=isolated_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        str(python_without_ssl.parent.parent),
        "_ssl -> ModuleNotFoundError No module named '_ssl'",
        "ssl -> ModuleNotFoundError No module named '_ssl'",
    ]


def test_the_venv_runs_its_pip_on_pyssl_alone(pip_venv):
    script = (
        "import ssl, _ssl, pip\n"
        "print(ssl.__name__, _ssl.__name__, pip.__version__)\n"
        "try:\n"
        "    from pip._vendor import truststore\n"
        "except ImportError:\n"
        "    print('no truststore')\n"
        "else:\n"
        "    print('truststore.SSLContext is an ssl.SSLContext:',\n"
        "          issubclass(truststore.SSLContext, ssl.SSLContext))\n"
    )
    result = run([pip_venv.python, "-c", script], env=isolated_env(PYSSL_INJECT="1"))
    assert result.returncode == 0, result.stderr
    through_truststore = PIPS[pip_venv.pip_version]
    assert result.stdout.splitlines() == [
        f"pyssl pyssl._ssl {pip_venv.pip_version}",
        "truststore.SSLContext is an ssl.SSLContext: True"
        if through_truststore
        else "no truststore",
    ]
    # The pip said to verify through truststore is one that always does.
    release = tuple(int(part) for part in pip_venv.pip_version.split(".")[:2])
    assert (release >= TRUSTSTORE_ALWAYS_SINCE) == through_truststore
    # Without the switch, the venv has no ssl at all: pyssl is the only TLS there.
    plain = run([pip_venv.python, "-c", "import ssl"], env=isolated_env())
    assert plain.returncode == 1
    assert (
        plain.stderr.splitlines()[-1] == "ModuleNotFoundError: No module named '_ssl'"
    )


def test_pip_installs_from_the_https_index_verified_against_the_given_ca(
    pip_venv, index, certs, tmp_path
):
    target = tmp_path / "target"
    result = pip_install(pip_venv, index, certs.ca, target)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"Successfully installed {PACKAGE}-1.0" in result.stdout, output
    assert "Traceback" not in output, output
    assert index.requests == [
        ("GET", f"/simple/{PACKAGE}/", 200),
        ("GET", f"/files/{WHEEL}", 200),
    ]
    assert index.handshakes == ["TLSv1.3", "TLSv1.3"]
    imported = run(
        [
            pip_venv.python,
            "-c",
            "import loopback_probe as m; print(m.GREETING, m.__file__)",
        ],
        env=isolated_env(PYTHONPATH=str(target)),
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == f"{GREETING} {target / 'loopback_probe.py'}\n"


def test_pip_refuses_the_https_index_when_given_another_ca(
    pip_venv, index, certs, tmp_path
):
    target = tmp_path / "target"
    result = pip_install(pip_venv, index, certs.other_ca, target)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    # pyssl's verification error, as pip words it: 23.2.1 prints the
    # exception's repr, 26.3 its message.
    assert (
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local "
        "issuer certificate (pyssl:do_handshake)"
    ) in output, output
    assert f"ERROR: No matching distribution found for {PACKAGE}" in output, output
    assert "Traceback" not in output, output
    # The client hung up in the handshake: not one request reached the server.
    assert index.requests == []
    assert index.handshakes_after(1) == ["SSLError: TLSV1_ALERT_UNKNOWN_CA"]
    assert not target.exists()
