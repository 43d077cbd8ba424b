"""Making ``import ssl`` (and ``import _ssl``) resolve to pyssl.

``inject_into_stdlib()`` puts pyssl into ``sys.modules`` under both names
and rebinds, in every module already imported, the names that refer to the
stdlib's ``ssl`` objects (``http.client.ssl``, urllib3's ``SSLContext``,
asyncio's tuples of SSL exceptions, ...) to pyssl's objects of the same
name. ``extract_from_stdlib()`` undoes exactly what it did.

Objects the stdlib made before the switch (a context someone already
created) stay stdlib objects.
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType
from typing import Any

_MISSING = object()
_lock = threading.Lock()
# (module dict, name, previous value) for every rebinding, newest last.
_rebound: list[tuple[dict[str, Any], str, Any]] = []
_saved_modules: dict[str, Any] | None = None


def _belongs_to_stdlib_ssl(value: Any) -> bool:
    """Whether ``value`` is one of the stdlib ssl's own objects (its
    classes, functions, enum members, ...), as opposed to something it
    merely re-exports, like ``socket.socket`` or ``os``."""
    if isinstance(value, ModuleType):
        return value.__name__ in ("ssl", "_ssl")
    owner = getattr(value, "__module__", None) if isinstance(value, type) or callable(value) else None
    if owner is None:
        owner = type(value).__module__
    # Python 3.10's enum names no module for an enum it cannot pickle,
    # such as the stdlib's Purpose (a namedtuple enum), or its members.
    return owner in ("ssl", "_ssl", "<unknown>")


def _replacement_table(pairs: list[tuple[ModuleType, ModuleType]]) -> dict[int, tuple[Any, Any]]:
    """id(stdlib object) -> (stdlib object, pyssl object) for the stdlib
    ssl's own objects that pyssl offers under the same name."""
    table: dict[int, tuple[Any, Any]] = {}
    for stdlib_module, ours in pairs:
        table[id(stdlib_module)] = (stdlib_module, ours)
        for name, value in vars(stdlib_module).items():
            if not _belongs_to_stdlib_ssl(value):
                continue
            replacement = getattr(ours, name, _MISSING)
            if replacement is not _MISSING and replacement is not value:
                table[id(value)] = (value, replacement)
    return table


def _swap(value: Any, table: dict[int, tuple[Any, Any]]) -> Any:
    entry = table.get(id(value))
    if entry is not None and entry[0] is value:
        return entry[1]
    if type(value) is tuple and any(id(item) in table for item in value):
        # Exception tuples such as asyncio's SSLAgainErrors or ftplib's
        # all_errors; what is not the stdlib ssl's stays as it is.
        return tuple(item if (new := _swap(item, table)) is _MISSING else new for item in value)
    return _MISSING


def _rebind_modules(table: dict[int, tuple[Any, Any]]) -> None:
    for module in list(sys.modules.values()):
        if module is None or not isinstance(module, ModuleType):
            continue
        namespace = vars(module)
        if namespace.get("__name__", "").startswith("pyssl") or id(module) in table:
            # pyssl itself, and the stdlib modules being replaced: their
            # own objects (a context made before the switch) keep working.
            continue
        for name, value in list(namespace.items()):
            replacement = _swap(value, table)
            if replacement is not _MISSING:
                _rebound.append((namespace, name, value))
                namespace[name] = replacement


def inject_into_stdlib() -> None:
    """Make ``import ssl`` and ``import _ssl`` return pyssl, and switch the
    modules that imported the stdlib's ``ssl`` already. Idempotent."""
    global _saved_modules
    import pyssl
    from pyssl import _ssl as view

    with _lock:
        if _saved_modules is not None:
            return
        _saved_modules = {name: sys.modules.get(name, _MISSING) for name in ("ssl", "_ssl")}
        pairs = [
            (module, ours)
            for module, ours in ((_saved_modules["ssl"], pyssl), (_saved_modules["_ssl"], view))
            if isinstance(module, ModuleType) and module is not ours
        ]
        if pairs:
            _rebind_modules(_replacement_table(pairs))
        sys.modules["ssl"] = pyssl
        sys.modules["_ssl"] = view


def extract_from_stdlib() -> None:
    """Undo ``inject_into_stdlib()``: the stdlib modules come back under
    their names and every rebound name gets its old value again."""
    global _saved_modules
    with _lock:
        if _saved_modules is None:
            return
        while _rebound:
            namespace, name, value = _rebound.pop()
            namespace[name] = value
        for name, module in _saved_modules.items():
            if module is _MISSING:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        _saved_modules = None


def is_injected() -> bool:
    """Whether ``import ssl`` currently gives pyssl."""
    return _saved_modules is not None
