#!/usr/bin/env python3
"""Build the OpenSSL that pyssl's wheels carry, from a pinned source release.

    python .ci/build_openssl.py PREFIX

installs the headers and libraries under PREFIX (``include/``, ``lib/``),
for ``PYSSL_OPENSSL_DIR=PREFIX`` to build pyssl against:

- Linux: shared libraries; auditwheel copies them into the wheel.
- macOS: static libraries, built for each architecture in
  ``PYSSL_MACOS_ARCHS`` (default ``x86_64 arm64``) with that architecture's
  ``MACOSX_DEPLOYMENT_TARGET`` and joined with ``lipo``: one prefix serves
  the x86_64 and the arm64 wheel, and the extension carries OpenSSL inside.
- Windows (x64): static libraries, built with MSVC (the environment of a
  developer prompt, found with vswhere when ``cl`` is not on PATH),
  Strawberry Perl and NASM.

The source archive is downloaded from the release's URLs, or taken from
the file named by ``PYSSL_OPENSSL_TARBALL`` (for machines that cannot reach
them: Debian's ``openssl_<version>.orig.tar.gz`` is the upstream archive
itself). Either way its SHA-256 must be the one pinned below before
anything is unpacked. ``PYSSL_OPENSSL_VERSION`` picks another of the pinned
releases. A prefix that already holds this build is left as it is.

Both Unix builds set OPENSSLDIR to /etc/ssl, where Linux distributions
and macOS keep the system's CA certificates (``cert.pem``, ``certs/``) and
``openssl.cnf``: ``SSLContext.load_default_certs()`` then finds the
system's trust store, as a distribution's own OpenSSL does.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request

# The release the wheels carry comes first: the current 3.5 long-term
# support release. The SHA-256 values are those of the upstream archives
# (openssl-<version>.tar.gz, which Debian also ships unchanged as its
# orig.tar.gz, signed by the OpenSSL release key).
RELEASES = {
    "3.5.9": "603f5602e2eef00d77fbd429d34dcd5822bb301757a1bc9cdb24c670f1eb859a",
    "3.5.7": "a8c0d28a529ca480f9f36cf5792e2cd21984552a3c8e4aa11a24aa31aeac98e8",
}
DEFAULT_VERSION = next(iter(RELEASES))
URLS = [
    "https://github.com/openssl/openssl/releases/download/openssl-{v}/openssl-{v}.tar.gz",
    "https://www.openssl.org/source/openssl-{v}.tar.gz",
    # Plain HTTP is fine: the checksum, not the transport, vouches for it.
    "http://deb.debian.org/debian/pool/main/o/openssl/openssl_{v}.orig.tar.gz",
]
# Libraries only: no openssl program, tests or manual pages. no-module
# builds the legacy provider into libcrypto instead of a loadable module
# whose compiled-in path would not exist on the user's machine.
COMMON_OPTIONS = ["no-apps", "no-docs", "no-tests", "no-module"]
UNIX_OPENSSLDIR = "/etc/ssl"
STAMP = ".pyssl-openssl-build"


def log(message: str) -> None:
    print(f"build_openssl: {message}", flush=True)


def fail(message: str) -> None:
    sys.exit(f"build_openssl: error: {message}")


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_source(version: str, expected: str, directory: str) -> str:
    """The path of a source archive whose SHA-256 is ``expected``."""
    local = os.environ.get("PYSSL_OPENSSL_TARBALL")
    if local:
        candidates = [local]
    else:
        candidates = []
        for url in (u.format(v=version) for u in URLS):
            path = os.path.join(directory, f"openssl-{version}.tar.gz")
            log(f"downloading {url}")
            try:
                with (
                    urllib.request.urlopen(url, timeout=120) as response,
                    open(path, "wb") as f,
                ):
                    shutil.copyfileobj(response, f)
            except OSError as exc:
                log(f"  failed: {exc}")
                continue
            candidates = [path]
            break
        if not candidates:
            fail(
                f"could not download OpenSSL {version}; set PYSSL_OPENSSL_TARBALL to a local copy"
            )
    path = candidates[0]
    actual = sha256_of(path)
    if actual != expected:
        fail(
            f"{path} has SHA-256 {actual}, not the pinned {expected} of OpenSSL {version}"
        )
    log(f"{os.path.basename(path)}: SHA-256 {actual} verified")
    return path


def unpack(archive: str, version: str, directory: str) -> str:
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(directory, filter="data")
        else:  # Python < 3.8.17 / 3.9.17: no extraction filters
            tar.extractall(directory)
    source = os.path.join(directory, f"openssl-{version}")
    if not os.path.isfile(os.path.join(source, "Configure")):
        fail(f"{archive} holds no openssl-{version}/Configure")
    return source


def run(cmd: list[str], cwd: str, env: dict[str, str] | None = None) -> None:
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


def jobs() -> str:
    return str(os.cpu_count() or 2)


# ---- Linux ----------------------------------------------------------------------


# Kernel TLS, which a connection uses only when asked (OP_ENABLE_KTLS):
# SSLSocket.sendfile() then sends files without copying them through Python.
LINUX_OPTIONS = ["enable-ktls"]


def build_linux(source: str, prefix: str) -> None:
    run(
        [
            "perl",
            "Configure",
            f"--prefix={prefix}",
            "--libdir=lib",
            f"--openssldir={UNIX_OPENSSLDIR}",
            "shared",
            *LINUX_OPTIONS,
            *COMMON_OPTIONS,
        ],
        source,
    )
    run(["make", f"-j{jobs()}", "build_libs"], source)
    run(["make", "install_dev"], source)


# ---- macOS ----------------------------------------------------------------------

MACOS_TARGETS = {"x86_64": "darwin64-x86_64-cc", "arm64": "darwin64-arm64-cc"}
# arm64 macOS starts at 11.0; x86_64 wheels are built for 10.13 unless the
# environment says otherwise (cibuildwheel's setting is passed on).
MACOS_MINIMUM = {"x86_64": "10.13", "arm64": "11.0"}


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def build_macos(source_archive: str, version: str, prefix: str, work: str) -> None:
    archs = os.environ.get("PYSSL_MACOS_ARCHS", "x86_64 arm64").split()
    wanted = os.environ.get("MACOSX_DEPLOYMENT_TARGET")
    per_arch = {}
    for arch in archs:
        if arch not in MACOS_TARGETS:
            fail(
                f"unknown macOS architecture {arch!r} (known: {', '.join(MACOS_TARGETS)})"
            )
        target = max(
            [MACOS_MINIMUM[arch], wanted or MACOS_MINIMUM[arch]], key=_version_key
        )
        arch_dir = os.path.join(work, arch)
        os.mkdir(arch_dir)
        source = unpack(source_archive, version, arch_dir)
        arch_prefix = os.path.join(work, f"prefix-{arch}")
        env = {**os.environ, "MACOSX_DEPLOYMENT_TARGET": target}
        log(f"{arch}: MACOSX_DEPLOYMENT_TARGET={target}")
        run(
            [
                "perl",
                "Configure",
                MACOS_TARGETS[arch],
                f"--prefix={arch_prefix}",
                "--libdir=lib",
                f"--openssldir={UNIX_OPENSSLDIR}",
                "no-shared",
                *COMMON_OPTIONS,
            ],
            source,
            env,
        )
        run(["make", f"-j{jobs()}", "build_libs"], source, env)
        run(["make", "install_dev"], source, env)
        per_arch[arch] = arch_prefix

    first = per_arch[archs[0]]
    for other in archs[1:]:
        # Both targets are LP64 with the same options, so the generated
        # headers must agree; one include/ then serves every slice.
        differing = _differing_files(
            os.path.join(first, "include"), os.path.join(per_arch[other], "include")
        )
        if differing:
            fail(f"the {archs[0]} and {other} headers differ: {', '.join(differing)}")
    os.makedirs(os.path.join(prefix, "lib"), exist_ok=True)
    shutil.copytree(
        os.path.join(first, "include"),
        os.path.join(prefix, "include"),
        dirs_exist_ok=True,
    )
    for name in ("libssl.a", "libcrypto.a"):
        run(
            [
                "lipo",
                "-create",
                *(os.path.join(p, "lib", name) for p in per_arch.values()),
                "-output",
                os.path.join(prefix, "lib", name),
            ],
            work,
        )
        run(["lipo", "-info", os.path.join(prefix, "lib", name)], work)


def _differing_files(left: str, right: str) -> list[str]:
    comparison = filecmp.dircmp(left, right)
    found = comparison.left_only + comparison.right_only + comparison.diff_files
    found = [os.path.join(left, name) for name in found]
    for sub in comparison.common_dirs:
        found += _differing_files(os.path.join(left, sub), os.path.join(right, sub))
    return found


# ---- Windows --------------------------------------------------------------------


def _msvc_environment() -> dict[str, str]:
    """The environment of an x64 developer prompt: os.environ if ``cl`` is
    already there, else what vcvarsall.bat sets."""
    if shutil.which("cl") and shutil.which("nmake"):
        return dict(os.environ)
    vswhere = os.path.join(
        os.environ.get("ProgramFiles(x86)", r"C:\Program Files (x86)"),
        "Microsoft Visual Studio",
        "Installer",
        "vswhere.exe",
    )
    if not os.path.isfile(vswhere):
        fail("no MSVC: run from a developer command prompt, or install Visual Studio")
    install = subprocess.run(
        [
            vswhere,
            "-latest",
            "-products",
            "*",
            "-requires",
            "Microsoft.VisualStudio.Component.VC.Tools.x86.x64",
            "-property",
            "installationPath",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    vcvars = os.path.join(install, "VC", "Auxiliary", "Build", "vcvarsall.bat")
    output = subprocess.run(
        f'cmd /s /c ""{vcvars}" x64 >nul && set"',
        capture_output=True,
        text=True,
        check=True,
        shell=True,
    ).stdout
    env = {}
    for line in output.splitlines():
        name, sep, value = line.partition("=")
        if sep and name:
            env[name] = value
    return env


def _windows_tool(env: dict[str, str], name: str, fallbacks: list[str]) -> str:
    found = shutil.which(name, path=env.get("PATH"))
    for candidate in fallbacks:
        if os.path.isfile(candidate):
            found = candidate
            break
    if not found:
        fail(f"{name} is needed to build OpenSSL on Windows")
    return found


def build_windows(source: str, prefix: str) -> None:
    env = _msvc_environment()
    # OpenSSL's Configure needs a native Windows perl: Git's MSYS perl
    # produces Unix paths that nmake cannot use.
    perl = _windows_tool(env, "perl", [r"C:\Strawberry\perl\bin\perl.exe"])
    nasm = _windows_tool(env, "nasm", [r"C:\Program Files\NASM\nasm.exe"])
    env["PATH"] = os.pathsep.join(
        [os.path.dirname(nasm), os.path.dirname(perl), env["PATH"]]
    )
    # Static libraries compiled with /MT /Zl: they name no C runtime, so the
    # extension links them against the /MD runtime Python uses. OPENSSLDIR
    # keeps its default under Program Files, writable by administrators only.
    run(
        [
            perl,
            "Configure",
            "VC-WIN64A",
            f"--prefix={prefix}",
            "no-shared",
            *COMMON_OPTIONS,
        ],
        source,
        env,
    )
    run(["nmake", "build_libs"], source, env)
    run(["nmake", "install_dev"], source, env)


# ---- main -----------------------------------------------------------------------


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.exit(__doc__.split("\n\n")[1])
    prefix = os.path.abspath(argv[0])
    version = os.environ.get("PYSSL_OPENSSL_VERSION", DEFAULT_VERSION)
    if version not in RELEASES:
        fail(
            f"no pinned checksum for OpenSSL {version} (pinned: {', '.join(RELEASES)})"
        )
    expected = RELEASES[version]
    system = platform.system()
    recipe = {
        "Linux": "shared " + " ".join(LINUX_OPTIONS),
        "Darwin": "static "
        + os.environ.get("PYSSL_MACOS_ARCHS", "x86_64 arm64")
        + " "
        + os.environ.get("MACOSX_DEPLOYMENT_TARGET", ""),
        "Windows": "static",
    }.get(system)
    if recipe is None:
        fail(f"no recipe for {system}")
    stamp_text = (
        f"OpenSSL {version} {expected} {system} {recipe} {' '.join(COMMON_OPTIONS)}\n"
    )
    stamp = os.path.join(prefix, STAMP)
    if os.path.isfile(stamp):
        with open(stamp) as f:
            if f.read() == stamp_text:
                log(f"{prefix} already holds OpenSSL {version} ({recipe.strip()})")
                return 0
    elif os.path.isdir(prefix) and os.listdir(prefix):
        # Replaced below: only ever a prefix this script made.
        fail(
            f"{prefix} is not empty and holds no build of this script: choose another prefix"
        )

    with tempfile.TemporaryDirectory(prefix="pyssl-openssl-") as work:
        archive = fetch_source(version, expected, work)
        if os.path.isdir(prefix):
            shutil.rmtree(prefix)
        if system == "Darwin":
            build_macos(archive, version, prefix, work)
        elif system == "Windows":
            build_windows(unpack(archive, version, work), prefix)
        else:
            build_linux(unpack(archive, version, work), prefix)
    with open(stamp, "w") as f:
        f.write(stamp_text)
    log(f"OpenSSL {version} installed in {prefix}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
