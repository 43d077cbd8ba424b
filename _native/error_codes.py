"""Generate the table of OpenSSL library and reason mnemonics.

``SSLError.library`` and ``.reason`` carry OpenSSL's own names (``SSL``,
``CERTIFICATE_VERIFY_FAILED``). OpenSSL exposes only the numbers at run
time, so the names are read from the installed ``openssl/*err.h`` headers
at build time: every ``ERR_LIB_<LIB>`` and every ``<LIB>_R_<REASON>``
macro. The generated C refers to the macros by name, so the compiler, not
this script, supplies each value, and an ``#ifdef`` guard keeps a macro
that one OpenSSL release lacks from breaking the build.
"""

from __future__ import annotations

import os
import re

CDEF = """\
struct pyssl_err_lib { int lib; const char *name; };
struct pyssl_err_reason { int lib; int reason; const char *name; };
extern const struct pyssl_err_lib pyssl_err_libs[];
extern const size_t pyssl_err_libs_count;
extern const struct pyssl_err_reason pyssl_err_reasons[];
extern const size_t pyssl_err_reasons_count;
"""

_LIB_RE = re.compile(r"^\s*#\s*define\s+ERR_LIB_([A-Z0-9_]+)\s+\d+", re.M)
_REASON_RE = re.compile(r"^\s*#\s*define\s+([A-Z0-9_]+?)_R_([A-Z0-9_]+)\s+", re.M)


def _read(path: str) -> str:
    with open(path, encoding="latin-1") as f:
        return f.read()


def scan(header_dir: str) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """Return (headers, library names, (library, reason) pairs)."""
    libs = sorted(set(_LIB_RE.findall(_read(os.path.join(header_dir, "err.h")))))
    known = set(libs)
    headers: list[str] = []
    reasons: list[tuple[str, str]] = []
    for name in sorted(os.listdir(header_dir)):
        if not name.endswith("err.h") or name.endswith("_legacy.h"):
            continue
        found = [
            (prefix, reason)
            for prefix, reason in _REASON_RE.findall(
                _read(os.path.join(header_dir, name))
            )
            # ERR_R_* are the reasons shared by every library.
            if prefix in known or prefix == "ERR"
        ]
        if found:
            headers.append(name)
            reasons.extend(found)
    return headers, libs, reasons


def c_source(header_dir: str | None) -> str:
    # This runs whenever setuptools loads the builder, even for an sdist or
    # before the OpenSSL check: headers that are missing or incomplete give
    # an empty table here, and the build step reports the real problem.
    try:
        headers, libs, reasons = scan(header_dir) if header_dir else ([], [], [])
    except OSError:
        headers, libs, reasons = [], [], []
    out = [f"#include <openssl/{h}>" for h in headers]
    out.append(CDEF.split("extern")[0].strip())
    out.append("const struct pyssl_err_lib pyssl_err_libs[] = {")
    for lib in libs:
        out.append(f'#ifdef ERR_LIB_{lib}\n  {{ERR_LIB_{lib}, "{lib}"}},\n#endif')
    out.append("  {0, NULL}\n};")
    out.append(
        "const size_t pyssl_err_libs_count = "
        "sizeof(pyssl_err_libs) / sizeof(pyssl_err_libs[0]) - 1;"
    )
    out.append("const struct pyssl_err_reason pyssl_err_reasons[] = {")
    for prefix, reason in reasons:
        macro = f"{prefix}_R_{reason}"
        # Library 0 marks a reason common to all libraries (ERR_R_*).
        lib = "0" if prefix == "ERR" else f"ERR_LIB_{prefix}"
        out.append(f'#ifdef {macro}\n  {{{lib}, {macro}, "{reason}"}},\n#endif')
    out.append("  {0, 0, NULL}\n};")
    out.append(
        "const size_t pyssl_err_reasons_count = "
        "sizeof(pyssl_err_reasons) / sizeof(pyssl_err_reasons[0]) - 1;"
    )
    return "\n".join(out) + "\n"
