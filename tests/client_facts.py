"""What the drivers of the asynchronous, truststore and green clients
(``async_clients_driver.py``, ``truststore_driver.py``,
``green_clients_driver.py``) report about a connection, and how their
scenarios are registered. Like ``injected_driver.py``, nothing here imports
``ssl``: a driver blocks ``_ssl`` or injects pyssl before anything does.
"""

import functools
import gc
import re
import sys
import warnings

# pyssl's classes by identity, named as pyssl offers them: noted before a
# scenario runs, because gevent and eventlet replace the module's
# attributes with their own subclasses when they patch it.
_PYSSL_CLASSES = {}


def _remember_pyssl_classes():
    import pyssl
    import pyssl._ssl

    _PYSSL_CLASSES.clear()
    # pyssl's own names last: a class both offer is named after pyssl's.
    for prefix, module in (("pyssl._ssl", pyssl._ssl), ("pyssl", pyssl)):
        for name, value in vars(module).items():
            if isinstance(value, type):
                _PYSSL_CLASSES[value] = f"{prefix}.{name}"


def kind(obj):
    """ "pyssl.SSLContext", "pyssl._ssl._SSLSocket"... for pyssl's own
    classes; otherwise where the class is defined ("ssl.SSLContext",
    "_ssl._SSLSocket" for the stdlib's, "gevent.ssl.SSLContext"...)."""
    cls = type(obj)
    return _PYSSL_CLASSES.get(cls) or f"{cls.__module__}.{cls.__qualname__}"


def ssl_base(obj):
    """The kind of the nearest class in ``obj``'s MRO that an ssl module
    itself defines (pyssl's or the stdlib's): what a library's subclass
    of SSLContext or SSLSocket is built on."""
    for cls in type(obj).__mro__:
        if cls in _PYSSL_CLASSES or cls.__module__ in ("ssl", "_ssl"):
            return _PYSSL_CLASSES.get(cls) or f"{cls.__module__}.{cls.__qualname__}"
    return None


def tls_of(obj):
    """Whose TLS the connection of an SSLSocket or SSLObject is, and what
    it negotiated (to be taken while it is open)."""
    return {
        "socket": kind(obj),
        "context": kind(obj.context),
        "version": obj.version(),
        "alpn": obj.selected_alpn_protocol(),
    }


def layers_of(sock):
    """tls_of() for a library's SSLSocket subclass, with the ssl classes
    its socket and context derive from and the class the connection object
    its context's ``_wrap_socket`` made (``_sslobj``) is an instance of
    ("_ssl._SSLSocket" in the stdlib)."""
    return {
        **tls_of(sock),
        "socket base": ssl_base(sock),
        "context base": ssl_base(sock.context),
        "connection": ssl_base(sock._sslobj),
    }


def registry():
    """A dict of scenarios and the decorator that fills it. Each scenario's
    result also lists the ResourceWarnings (unclosed sockets, transports,
    files) raised while it ran, collected garbage included."""
    scenarios = {}

    def scenario(function):
        @functools.wraps(function)
        def checked(**args):
            if "pyssl" in sys.modules:
                _remember_pyssl_classes()
            unclosed = []
            show = warnings.showwarning

            def keep(message, category, *rest, **kwargs):
                if issubclass(category, ResourceWarning):
                    # "unclosed <ssl.SSLSocket fd=5, ...>", "unclosed
                    # transport <...>": the class, as descriptors, ports
                    # and addresses differ from run to run.
                    described = re.match(
                        r"unclosed (?:transport )?<([\w.]+)", str(message)
                    )
                    unclosed.append(described[1] if described else str(message))
                else:
                    show(message, category, *rest, **kwargs)

            warnings.simplefilter("always", ResourceWarning)
            warnings.showwarning = keep
            result = function(**args)
            gc.collect()
            return {**result, "unclosed": unclosed}

        scenarios[function.__name__] = checked
        return function

    return scenarios, scenario
