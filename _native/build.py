"""cffi builder for ``pyssl._openssl`` (API mode, compiled out of line).

The declarations live in ``cdef/``, one file per OpenSSL header; the C side
is the OpenSSL headers, ``helpers.h`` and the error-code table generated
from the installed headers (``error_codes.py``). ``setup.py`` names
``ffibuilder`` in ``cffi_modules``; running this file directly compiles the
module in place for development.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import sys
import tempfile

import cffi
from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cffi_wrappers  # noqa: E402
import error_codes  # noqa: E402
from openssl_location import find_openssl  # noqa: E402
from stable_abi import limited_api_macros  # noqa: E402

# Dependency order: a file may use the types declared before it.
CDEF_FILES = [
    "crypto",
    "err",
    "bio",
    "objects",
    "asn1",
    "evp",
    "x509",
    "x509_vfy",
    "x509v3",
    "pem",
    "rand",
    "ssl",
    "helpers",
    "callbacks",
    "trust_store",
]


def _read(*parts: str) -> str:
    with open(os.path.join(HERE, *parts)) as f:
        return f.read()


def make_ffibuilder() -> FFI:
    location = find_openssl()
    builder = FFI()
    for name in CDEF_FILES:
        builder.cdef(_read("cdef", f"{name}.cdef"))
    builder.cdef(error_codes.CDEF)
    helpers = _read("helpers.h")
    source = "\n".join(
        [
            helpers,
            _read("fast_paths.h"),
            _read("default_store.h"),
            _read("trust_store.h"),
            error_codes.c_source(location.header_dir),
        ]
    )
    extra_compile_args = []
    if sys.platform != "win32":
        # pyssl deliberately offers the deprecated fixed-version methods
        # behind PROTOCOL_TLSv1*, as the stdlib does.
        extra_compile_args.append("-Wno-deprecated-declarations")
    # Flags for this extension alone, not for whatever else pip builds:
    # .ci/run builds it with AddressSanitizer and UndefinedBehaviorSanitizer
    # this way (docs/hardening.md, "Sanitizers").
    extra_compile_args += shlex.split(os.environ.get("PYSSL_EXTRA_COMPILE_ARGS", ""))
    extra_link_args = location.extra_link_args + shlex.split(
        os.environ.get("PYSSL_EXTRA_LINK_ARGS", "")
    )
    builder.set_source(
        "pyssl._openssl",
        source,
        include_dirs=location.include_dirs,
        library_dirs=location.library_dirs,
        libraries=location.libraries,
        extra_compile_args=extra_compile_args,
        extra_link_args=extra_link_args,
        define_macros=limited_api_macros(),
        # The stable ABI (stable_abi.py says which): one wheel per platform
        # serves CPython 3.10 and later, at no cost to the hot paths: cffi's
        # wrappers call the same functions either way and compile to the
        # same machine code in both modes. .ci/hot_path_instructions.py
        # compares the two builds; docs/performance.md gives its figures.
        py_limited_api=True,
    )
    check_cffi_wrappers(builder, helpers)
    return builder


def check_cffi_wrappers(builder: FFI, helpers: str) -> None:
    """Stop the build when the cffi in use does not generate the wrappers
    helpers.h relies on (see cffi_wrappers.py), with a message instead of a
    module that silently releases the GIL everywhere or loses errno."""
    with tempfile.TemporaryDirectory() as tmp:
        c_file = os.path.join(tmp, "_openssl.c")
        with contextlib.redirect_stdout(io.StringIO()):  # "generating ..."
            builder.emit_c_code(c_file)
        with open(c_file) as f:
            generated = f.read()
    problems = cffi_wrappers.problems(generated, helpers)
    if problems:
        raise SystemExit(
            f"error: pyssl cannot be built with cffi {cffi.__version__}: the C it generates "
            "is not what _native/helpers.h relies on to release the GIL only around "
            "the calls that may block, and to keep errno after them. Build with a cffi "
            "that pyproject.toml allows.\n  " + "\n  ".join(problems)
        )


ffibuilder = make_ffibuilder()

if __name__ == "__main__":
    # The generated C and objects go to build/; the module into pyssl/.
    build_dir = os.path.join(HERE, os.pardir, "build", "cffi")
    so = ffibuilder.compile(tmpdir=build_dir, verbose=False)
    pkg = os.path.join(HERE, os.pardir, "pyssl")
    # A module built before under another name (_openssl.cpython-312-...)
    # would be imported ahead of this one.
    for name in os.listdir(pkg):
        if name.startswith("_openssl.") and name.endswith((".so", ".pyd")):
            os.remove(os.path.join(pkg, name))
    os.replace(so, os.path.join(pkg, os.path.basename(so)))
