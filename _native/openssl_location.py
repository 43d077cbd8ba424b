"""Where the OpenSSL that pyssl compiles against lives.

``PYSSL_OPENSSL_DIR`` names an OpenSSL installation prefix (the directory
holding ``include/openssl/ssl.h`` and ``lib/`` or ``lib64/``); the wheel
builds point it at the OpenSSL they compile from source
(``.ci/build_openssl.py``). A prefix whose ``lib/`` holds only static
libraries (OpenSSL configured ``no-shared``, as for the macOS and Windows
wheels) is linked statically: the linker finds nothing else there. Without
the variable the compiler's default search paths are used, i.e. the system
OpenSSL (``libssl-dev`` on Debian and Ubuntu).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field

ENV_VAR = "PYSSL_OPENSSL_DIR"

MISSING_HEADERS_MESSAGE = f"""\
pyssl needs the OpenSSL 3.0 (or newer) development headers and libraries,
and the C compiler could not find them ({{detail}}).

Install them, then run the installation again:
  Debian, Ubuntu:        apt-get install libssl-dev
  Fedora, RHEL, CentOS:  dnf install openssl-devel
  Alpine:                apk add openssl-dev
  macOS (Homebrew):      brew install openssl@3
                         and set {ENV_VAR}=$(brew --prefix openssl@3)
or point {ENV_VAR} at the prefix of an OpenSSL 3 installation
(the directory that holds include/openssl/ssl.h and lib/).
Prebuilt wheels, which carry their own OpenSSL, need none of this.
"""

# The probe both finds the headers and rejects OpenSSL 1.x / LibreSSL,
# whose APIs pyssl does not target.
PROBE_SOURCE = """\
#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "pyssl needs OpenSSL 3.0 or newer"
#endif
#ifdef LIBRESSL_VERSION_NUMBER
#error "pyssl needs OpenSSL, not LibreSSL"
#endif
int pyssl_probe(void) { return 0; }
"""


@dataclass
class OpenSSLLocation:
    include_dirs: list[str] = field(default_factory=list)
    library_dirs: list[str] = field(default_factory=list)
    libraries: list[str] = field(default_factory=list)
    extra_link_args: list[str] = field(default_factory=list)
    # Directory holding the openssl/*.h headers, when it could be found;
    # the error-code table is generated from it.
    header_dir: str | None = None
    # Why this location cannot be built against, found without a compiler.
    problem: str = ""


def _has_shared_libssl(libdir: str) -> bool:
    return any(
        name.startswith("libssl.so")
        or (name.startswith("libssl") and name.endswith(".dylib"))
        for name in os.listdir(libdir)
    )


def _prefix_location(prefix: str) -> OpenSSLLocation:
    loc = OpenSSLLocation(include_dirs=[os.path.join(prefix, "include")])
    for libdir in ("lib64", "lib"):
        path = os.path.join(prefix, libdir)
        if os.path.isdir(path):
            loc.library_dirs.append(path)
    if sys.platform != "win32":
        # A private prefix is found again at run time without LD_LIBRARY_PATH;
        # auditwheel/delocate rewrite this when they vendor the libraries.
        # Static libraries leave nothing to find.
        loc.extra_link_args += [
            f"-Wl,-rpath,{d}" for d in loc.library_dirs if _has_shared_libssl(d)
        ]
    header_dir = os.path.join(prefix, "include", "openssl")
    if os.path.isfile(os.path.join(header_dir, "ssl.h")):
        loc.header_dir = header_dir
    else:
        # Not a fall back on the system's OpenSSL: the variable asked for this one.
        loc.problem = f"{ENV_VAR} is {prefix!r}, which holds no include/openssl/ssl.h"
    return loc


def _compiler_command() -> list[str]:
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shlex.split(cc)


def probe_headers(include_dirs: list[str]) -> tuple[str | None, str]:
    """Preprocess the probe; return (header_dir, error text)."""
    if sys.platform == "win32":
        return None, "no compiler probe on Windows"
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(PROBE_SOURCE)
        cmd = _compiler_command() + ["-E"]
        cmd += [f"-I{d}" for d in include_dirs] + [src]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as exc:
            return None, f"cannot run the C compiler {cmd[0]!r}: {exc}"
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()]
        return None, (lines[0].strip() if lines else "the OpenSSL probe failed")
    # gcc/clang line markers name the header file they came from.
    match = re.search(r'^# \d+ "([^"]*)[/\\]ssl\.h"', proc.stdout, re.M)
    return (match.group(1) if match else None), ""


def find_openssl() -> OpenSSLLocation:
    prefix = os.environ.get(ENV_VAR)
    if prefix:
        loc = _prefix_location(prefix)
    else:
        loc = OpenSSLLocation()
    if sys.platform == "win32":
        # The system libraries are those OpenSSL's own Windows build links
        # (ex_libs in its Configurations/10-main.conf): a static libcrypto,
        # as in the Windows wheels, needs them all.
        loc.libraries = [
            "libssl",
            "libcrypto",
            "ws2_32",
            "gdi32",
            "advapi32",
            "crypt32",
            "user32",
        ]
    else:
        loc.libraries = ["ssl", "crypto"]
    if loc.header_dir is None and not loc.problem:
        loc.header_dir, _ = probe_headers(loc.include_dirs)
    return loc


def find_problem(loc: OpenSSLLocation) -> str:
    """Why pyssl cannot be built against ``loc`` ("" if it can, as far as
    can be told before compiling; Windows has no compiler probe)."""
    if loc.problem or sys.platform == "win32":
        return loc.problem
    return probe_headers(loc.include_dirs)[1]
