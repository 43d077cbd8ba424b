"""What ``helpers.h`` relies on in the C that cffi generates, checked.

cffi wraps each function of the cdef in a ``_cffi_f_<name>`` function that
releases the GIL and moves errno to and from ``ffi.errno`` around the call.
``helpers.h`` redefines the macros those wrappers use so that only the
functions it lists release the GIL and keep errno (see the comments there).
That works only as long as cffi generates the wrappers in the shape below;
``build.py`` runs :func:`problems` on the module's generated C before it is
compiled, and stops the build when anything is off, instead of building a
module that releases the GIL everywhere, or nowhere, or loses errno.
"""

from __future__ import annotations

import re

# A wrapper as cffi writes it: the signature, then the body up to the brace
# that closes it in the first column.
_WRAPPER = re.compile(
    r"^static PyObject \*\n_cffi_f_(\w+)\(PyObject \*self, PyObject \*\w+\)\n\{\n(.*?)\n\}\n",
    re.M | re.S,
)
# Anything else in a wrapper that would take or give the GIL.
_OTHER_GIL_CALLS = re.compile(
    r"\b(PyEval_SaveThread|PyEval_RestoreThread|Py_BLOCK_THREADS|Py_UNBLOCK_THREADS|PyGILState_\w+)\b"
)
_RELEASING_LIST = re.compile(r"pyssl_gil_releasing\[\]\s*=\s*\{(.*?)\};", re.S)
# Reported per kind of problem, so that one change in cffi does not print
# hundreds of lines.
_EXAMPLES = 3


def releasing_names(helpers_source: str) -> list[str]:
    """The functions ``helpers.h`` lets release the GIL."""
    match = _RELEASING_LIST.search(helpers_source)
    if match is None:
        raise ValueError("helpers.h has no pyssl_gil_releasing list")
    return re.findall(r'"(\w+)"', match.group(1))


def _call_line(name: str) -> re.Pattern[str]:
    return re.compile(
        r"\{ (?:result = )?" + re.escape(name) + r"\((?:x\d+(?:, x\d+)*)?\); \}"
    )


# The lines around the call, in this order; the call goes in the middle.
_AROUND_CALL = [
    "Py_BEGIN_ALLOW_THREADS",
    "_cffi_restore_errno();",
    "_cffi_save_errno();",
    "Py_END_ALLOW_THREADS",
]


def _wrapper_problem(name: str, body: str) -> str | None:
    lines = [line.strip() for line in body.splitlines()]
    if _AROUND_CALL[0] not in lines:
        return f"_cffi_f_{name} has no line {_AROUND_CALL[0]!r}"
    start = lines.index(_AROUND_CALL[0])
    block = lines[start : start + 5]
    if (
        len(block) != 5
        or block[:2] != _AROUND_CALL[:2]
        or block[3:] != _AROUND_CALL[2:]
        or not _call_line(name).fullmatch(block[2])
    ):
        return (
            f"_cffi_f_{name} does not call {name}() alone, right after the lines "
            f"{' '.join(_AROUND_CALL[:2])} and right before {' '.join(_AROUND_CALL[2:])}"
        )
    rest = lines[:start] + lines[start + 5 :]
    for line in _AROUND_CALL:
        if line in rest:
            return f"_cffi_f_{name} has {line!r} twice"
    other = _OTHER_GIL_CALLS.search(body)
    if other is not None:
        return f"_cffi_f_{name} also calls {other.group(1)}"
    return None


def problems(c_source: str, helpers_source: str) -> list[str]:
    """How the generated C ``c_source``, whose set_source() text begins with
    ``helpers_source``, differs from what ``helpers.h`` relies on; empty
    when it does not."""
    found: dict[str, list[str]] = {}

    def report(kind: str, text: str) -> None:
        found.setdefault(kind, []).append(text)

    first_line = helpers_source.splitlines()[0]
    helpers_at = c_source.find(first_line)
    if helpers_at < 0:
        return ["the generated C does not hold helpers.h"]
    for macro in ("_cffi_restore_errno", "_cffi_save_errno"):
        definition = re.search(r"^#define " + macro + r"\b", c_source, re.M)
        if definition is None:
            report("macros", f"cffi defines no macro {macro}")
        elif definition.start() > helpers_at:
            report(
                "macros", f"cffi defines {macro} after helpers.h, which redefines it"
            )
    wrappers = {}
    for match in _WRAPPER.finditer(c_source):
        name, body = match.group(1), match.group(2)
        wrappers[name] = body
        if match.start() < helpers_at:
            report(
                "order",
                f"_cffi_f_{name} comes before helpers.h, whose macros it must use",
            )
        problem = _wrapper_problem(name, body)
        if problem is not None:
            report("shape", problem)
    if not wrappers:
        report(
            "shape", "no function is wrapped as 'static PyObject *_cffi_f_<name>(...)'"
        )
    # The GIL is released around the calls by that name only: one that has
    # no wrapper (a typo, a function gone from the cdef or made a macro)
    # would silently keep it.
    for name in releasing_names(helpers_source):
        if name not in wrappers:
            report(
                "names", f"pyssl_gil_releasing names {name}, which cffi does not wrap"
            )
    result = []
    for kind in found.values():
        result.extend(kind[:_EXAMPLES])
        if len(kind) > _EXAMPLES:
            result.append(f"... and {len(kind) - _EXAMPLES} more like these")
    return result
