"""The stable ABI the binding is built for, which the wheel's tag names.

The module uses CPython's stable ABI, so one wheel serves every later
CPython. Built by 3.10 it uses 3.10's (tag cp310-abi3). Built by 3.11 or
later it uses 3.11's, which adds the buffer protocol: reads then go
straight into the caller's buffer from C (fast_paths.h, ssl_read_into),
and the wheel is tagged cp311-abi3, which pip prefers over cp310-abi3
where both install. Free-threaded CPython has no stable ABI before 3.15:
there the module uses the full API and the wheel is per version.
"""

from __future__ import annotations

import sys
import sysconfig


def stable_abi() -> tuple[int, int] | None:
    """The (major, minor) of the stable ABI to build for, or None for the
    full API."""
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return None
    return (3, 10) if sys.version_info < (3, 11) else (3, 11)


def limited_api_macros() -> list[tuple[str, str]]:
    """The Py_LIMITED_API definition for the compiler (none for the full
    API). Defined here, cffi leaves it as it is; left to cffi, it would be
    the oldest stable ABI's headers, without 3.10's METH_FASTCALL."""
    abi = stable_abi()
    if abi is None:
        return []
    return [("Py_LIMITED_API", f"0x{abi[0]:02X}{abi[1]:02X}0000")]


def wheel_tag() -> str | None:
    """bdist_wheel's py_limited_api option: "cp310", "cp311", or None."""
    abi = stable_abi()
    return None if abi is None else f"cp{abi[0]}{abi[1]}"
