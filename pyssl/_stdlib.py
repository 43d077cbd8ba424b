"""Making ``import ssl`` (and ``import _ssl``) resolve to pyssl.

``inject_into_stdlib()`` puts pyssl into ``sys.modules`` under both names
and rebinds, in every module already imported, the names that refer to the
stdlib's ``ssl`` objects (``http.client.ssl``, urllib3's ``SSLContext``,
asyncio's tuples of SSL exceptions, ...) to pyssl's objects of the same
name. ``extract_from_stdlib()`` undoes exactly what it did. Both switch
``sys.modules`` first and put everything back if they fail on the way; the
walk runs no code of the modules it looks at (docs/internals.md,
"Injection").

Objects the stdlib made before the switch (a context someone already
created) stay stdlib objects.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeGuard

_MISSING = object()
_lock = threading.Lock()
# (module dict, name, previous value, pyssl's value) for every rebinding,
# newest last.
_rebound: list[tuple[dict[str, Any], str, Any, Any]] = []
_saved_modules: dict[str, Any] | None = None


def _belongs_to_stdlib_ssl(value: Any) -> bool:
    """Whether ``value`` is one of the stdlib ssl's own objects (its
    classes, functions, enum members, ...), as opposed to something it
    merely re-exports, like ``socket.socket`` or ``os``."""
    if _is_module(value):
        return _namespace_of(value).get("__name__") in ("ssl", "_ssl")
    owner = (
        getattr(value, "__module__", None)
        if isinstance(value, type) or callable(value)
        else None
    )
    if owner is None:
        owner = type(value).__module__
    # Python 3.10's enum names no module for an enum it cannot pickle,
    # such as the stdlib's Purpose (a namedtuple enum), or its members.
    return owner in ("ssl", "_ssl", "<unknown>")


# A module's own namespace, read without running any code of the module's
# type: vars() and isinstance() look attributes up, which loads a module
# that importlib.util.LazyLoader made, and may run any __getattr__.
_namespace_of: Callable[[ModuleType], dict[str, Any]] = vars(ModuleType)[
    "__dict__"
].__get__
# The type of a module LazyLoader made and nothing has used yet (it becomes
# a plain module when first used).
_LazyModule: type | None = getattr(importlib.util, "_LazyModule", None)


def _is_module(value: Any) -> TypeGuard[ModuleType]:
    return issubclass(type(value), ModuleType)


def _not_loaded(module: ModuleType) -> bool:
    """Whether ``module`` was made by LazyLoader and has run none of its
    code yet: it holds nothing of the stdlib's, and imports what it needs
    when first used (after the switch, pyssl), so it is left alone."""
    return _LazyModule is not None and issubclass(type(module), _LazyModule)


def _replacement_table(
    pairs: list[tuple[ModuleType, ModuleType]],
) -> dict[int, tuple[Any, Any]]:
    """id(stdlib object) -> (stdlib object, pyssl object) for the stdlib
    ssl's own objects that pyssl offers under the same name."""
    table: dict[int, tuple[Any, Any]] = {}
    for stdlib_module, ours in pairs:
        table[id(stdlib_module)] = (stdlib_module, ours)
        if _not_loaded(stdlib_module):
            continue
        for name, value in list(_namespace_of(stdlib_module).items()):
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
        return tuple(
            item if (new := _swap(item, table)) is _MISSING else new for item in value
        )
    return _MISSING


def _rebind_modules(
    table: dict[int, tuple[Any, Any]], done: list[tuple[dict[str, Any], str, Any, Any]]
) -> None:
    """Rebind the globals that hold the stdlib ssl's objects, appending
    (namespace, name, old value, new value) to ``done`` as it goes."""
    for module in list(sys.modules.values()):
        if not _is_module(module) or _not_loaded(module):
            continue
        namespace = _namespace_of(module)
        name_of_module = namespace.get("__name__", "")
        if (
            isinstance(name_of_module, str) and name_of_module.startswith("pyssl")
        ) or id(module) in table:
            # pyssl itself, and the stdlib modules being replaced: their
            # own objects (a context made before the switch) keep working.
            continue
        for name, value in list(namespace.items()):
            replacement = _swap(value, table)
            if replacement is not _MISSING:
                done.append((namespace, name, value, replacement))
                namespace[name] = replacement


def _undo(rebound: list[tuple[dict[str, Any], str, Any, Any]]) -> None:
    """Put back, newest first, the old values of the globals that still
    hold what the injection put there."""
    for namespace, name, value, replacement in reversed(rebound):
        if namespace.get(name, _MISSING) is replacement:
            namespace[name] = value


def _redo(rebound: list[tuple[dict[str, Any], str, Any, Any]]) -> None:
    """What _undo() put back, rebound again."""
    for namespace, name, value, replacement in rebound:
        if namespace.get(name, _MISSING) is value:
            namespace[name] = replacement


def _set_modules(modules: dict[str, Any]) -> None:
    for name, module in modules.items():
        if module is _MISSING:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module


def inject_into_stdlib() -> None:
    """Make ``import ssl`` and ``import _ssl`` return pyssl, and switch the
    modules that imported the stdlib's ``ssl`` already. Idempotent. All or
    nothing: if it fails, everything is as it was before the call."""
    global _saved_modules
    import pyssl
    from pyssl import _ssl as view

    with _lock:
        if _saved_modules is not None:
            return
        saved = {name: sys.modules.get(name, _MISSING) for name in ("ssl", "_ssl")}
        rebound: list[tuple[dict[str, Any], str, Any, Any]] = []
        try:
            # Switched first: a module imported from here on gets pyssl.
            _set_modules({"ssl": pyssl, "_ssl": view})
            pairs = [
                (module, ours)
                for module, ours in ((saved["ssl"], pyssl), (saved["_ssl"], view))
                if _is_module(module) and module is not ours
            ]
            if pairs:
                _rebind_modules(_replacement_table(pairs), rebound)
        except BaseException:
            _undo(rebound)
            _set_modules(saved)
            raise
        _rebound.extend(rebound)
        _saved_modules = saved


def extract_from_stdlib() -> None:
    """Undo ``inject_into_stdlib()``: the stdlib modules come back under
    their names and every rebound name gets its old value again (unless
    something else rebound it since)."""
    global _saved_modules
    with _lock:
        if _saved_modules is None:
            return
        current = {name: sys.modules.get(name, _MISSING) for name in _saved_modules}
        try:
            # Switched first: a module imported from here on gets the stdlib.
            _set_modules(_saved_modules)
            _undo(_rebound)
        except BaseException:
            # Still injected, as before the call.
            _redo(_rebound)
            _set_modules(current)
            raise
        _rebound.clear()
        _saved_modules = None


def is_injected() -> bool:
    """Whether ``import ssl`` currently gives pyssl."""
    return _saved_modules is not None
