"""pyssl's classes have the running stdlib's shape: the ``_ssl`` base types
and the ``ssl.py`` classes over them, each name on the same layer, the base
getters giving the same types, ``_sslobj`` methods returning what they
return there, and the module's globals looked up at call time.

Code written against the stdlib's internals depends on this shape, not only
on the public names: truststore (inside every pip) sets ``verify_mode`` and
friends through ``super(ssl.SSLContext, ssl.SSLContext).<name>.__set__``
and, before Python 3.13, reads chains from ``_sslobj``; gevent and eventlet
make connections with ``context._wrap_socket``; truststore and gevent
replace ``ssl.SSLContext`` and expect ``create_default_context()`` to build
their class.
"""

from __future__ import annotations

import _socket
import inspect
import socket
import sys
from typing import Any

import pytest
from peers import BioPair, client_context, server_context
from ssl_modules import STDLIB_SSL, needs_stdlib_ssl

import pyssl

# The types of both layers, under the stdlib's names, as each module
# reaches them (``ssl._ssl`` is the low-level module in both).
LAYER_TYPES = {
    "ssl.SSLContext": lambda m: m.SSLContext,
    "ssl.SSLSocket": lambda m: m.SSLSocket,
    "ssl.SSLObject": lambda m: m.SSLObject,
    "_ssl._SSLContext": lambda m: m._ssl._SSLContext,
    "_ssl._SSLSocket": lambda m: m._ssl._SSLSocket,
    "_ssl.MemoryBIO": lambda m: m._ssl.MemoryBIO,
    "_ssl.SSLSession": lambda m: m._ssl.SSLSession,
    "_ssl.Certificate": lambda m: m._ssl.Certificate,
}
SSL_PY_CLASSES = ["ssl.SSLContext", "ssl.SSLSocket", "ssl.SSLObject"]
BASE_TYPES = [name for name in LAYER_TYPES if name.startswith("_ssl.")]

# Classes pyssl puts into those types' MROs that have no counterpart in
# the stdlib, each for a reason of pyssl's own; none may hold a name the
# stdlib puts on the other layer (checked below).
IMPLEMENTATION_CLASSES = {
    # Parts of _SSLContext, by concern.
    "pyssl._context_certificates.CertificateSettings": "certificates, trust and verification",
    "pyssl._callbacks.ContextCallbacks": "the settings that install callbacks",
    # The getters of _SSLSocket, with what they keep.
    "pyssl._negotiated.Negotiated": "the getters of what the handshake settled",
    # The connection over a socket's descriptor, which SSLSocket._sslobj is:
    # a subclass of _SSLSocket that waits for the socket.
    "pyssl._socket_connection.SocketConnection": "waiting on a socket",
    # MemoryBIO's methods that asyncio calls per record, in C.
    "pyssl._fast_paths.MemoryBIOBase": "MemoryBIO's C half",
}

# Names of the stdlib's that pyssl leaves out, and why.
NOT_OFFERED: dict[str, str] = {}


def full_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def layer_name(cls: type, module: Any) -> str:
    """``cls`` under the stdlib's name if it is one of ``module``'s layer
    types, else its own full name."""
    for name, get in LAYER_TYPES.items():
        if get(module) is cls:
            return name
    return full_name(cls)


def mro_names(cls: type, module: Any) -> list[str]:
    return [
        layer_name(c, module)
        for c in cls.__mro__
        if full_name(c) not in IMPLEMENTATION_CLASSES
    ]


def own_names(cls: type) -> set[str]:
    return {
        name
        for name in vars(cls)
        if not (name.startswith("__") and name.endswith("__"))
    }


def stdlib_and_pyssl(layer: str) -> tuple[type, type]:
    get = LAYER_TYPES[layer]
    return get(STDLIB_SSL), get(pyssl)


pytestmark = needs_stdlib_ssl


@pytest.mark.parametrize("layer", list(LAYER_TYPES))
def test_each_type_has_the_stdlib_s_bases(layer):
    stdlib_type, pyssl_type = stdlib_and_pyssl(layer)
    assert mro_names(pyssl_type, pyssl) == mro_names(stdlib_type, STDLIB_SSL)


def test_the_implementation_classes_are_in_use():
    """The list above names only classes pyssl really puts in those MROs."""
    used = {full_name(c) for get in LAYER_TYPES.values() for c in get(pyssl).__mro__}
    used.add(full_name(type(socket_connection_class())))
    assert set(IMPLEMENTATION_CLASSES) <= used


def socket_connection_class() -> Any:
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    with socket.socket() as sock:
        return ctx._wrap_socket(sock, False)


@pytest.mark.parametrize("layer", SSL_PY_CLASSES)
def test_the_ssl_py_classes_define_what_ssl_py_defines(layer):
    stdlib_type, pyssl_type = stdlib_and_pyssl(layer)
    missing = own_names(stdlib_type) - own_names(pyssl_type) - set(NOT_OFFERED)
    assert missing == set()


@pytest.mark.parametrize("layer", BASE_TYPES)
def test_the_base_types_offer_what_the_stdlib_s_offer(layer):
    stdlib_type, pyssl_type = stdlib_and_pyssl(layer)
    assert {
        name for name in own_names(stdlib_type) if not hasattr(pyssl_type, name)
    } == set()


def test_names_of_the_base_context_are_not_redefined_over_it():
    """What ssl.py leaves to _ssl._SSLContext, pyssl's SSLContext leaves to
    its base too: ``super(SSLContext, SSLContext).name`` and
    ``SSLContext.name`` are then the same descriptor, as in the stdlib."""
    base_only = own_names(STDLIB_SSL._ssl._SSLContext) - own_names(
        STDLIB_SSL.SSLContext
    )
    assert base_only & own_names(pyssl.SSLContext) == set()
    for name in base_only:
        assert getattr(pyssl.SSLContext, name) is getattr(pyssl._ssl._SSLContext, name)


# ---- the base context's descriptors -----------------------------------------


def data_descriptors(cls: type) -> list[str]:
    return sorted(
        name for name in own_names(cls) if inspect.isdatadescriptor(vars(cls)[name])
    )


def base_descriptor_behaviour(
    module: Any, protocol_name: str
) -> dict[str, tuple[str, str]]:
    """For each data descriptor of the stdlib's _SSLContext: the type its
    getter returns on ``module``'s base type, and what setting that value
    back through the base's ``__set__`` does ("ok" or the exception type)."""
    ctx = module.SSLContext(getattr(module, protocol_name))
    base = super(module.SSLContext, module.SSLContext)
    behaviour = {}
    for name in data_descriptors(STDLIB_SSL._ssl._SSLContext):
        value = getattr(base, name).__get__(ctx)
        try:
            getattr(base, name).__set__(ctx, value)
            outcome = "ok"
        except Exception as exc:  # noqa: BLE001 - its type is the result
            outcome = type(exc).__name__
        behaviour[name] = (type(value).__name__, outcome)
    return behaviour


@pytest.mark.parametrize(
    "protocol_name", ["PROTOCOL_TLS_CLIENT", "PROTOCOL_TLS_SERVER"]
)
def test_the_base_descriptors_get_plain_values_and_set_as_the_stdlib_s(protocol_name):
    assert base_descriptor_behaviour(pyssl, protocol_name) == base_descriptor_behaviour(
        STDLIB_SSL, protocol_name
    )


def test_the_ssl_py_getters_return_the_stdlib_s_types():
    def types(module: Any) -> dict[str, str]:
        ctx = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
        return {
            name: type(getattr(ctx, name)).__name__
            for name in data_descriptors(STDLIB_SSL.SSLContext)
        }

    assert types(pyssl) == types(STDLIB_SSL)


class InnerContext:
    """A context that keeps another and sets the other's values through
    the base type, as truststore.SSLContext does."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.inner = module.SSLContext(module.PROTOCOL_TLS_CLIENT)

    def set(self, name: str, value: Any) -> None:
        base = super(self.module.SSLContext, self.module.SSLContext)
        getattr(base, name).__set__(self.inner, value)


def test_values_set_through_the_base_read_back_through_the_subclass(either):
    wrapper = InnerContext(either)
    wrapper.set("verify_mode", either.CERT_OPTIONAL)
    wrapper.set("check_hostname", False)
    wrapper.set("verify_mode", either.CERT_NONE)
    wrapper.set("options", wrapper.inner.options | either.OP_NO_TICKET)
    wrapper.set("minimum_version", either.TLSVersion.TLSv1_3)
    wrapper.set("maximum_version", either.TLSVersion.TLSv1_3)
    wrapper.set("verify_flags", either.VERIFY_X509_STRICT)
    inner = wrapper.inner
    assert inner.verify_mode is either.VerifyMode.CERT_NONE
    assert inner.options & either.Options.OP_NO_TICKET
    assert inner.minimum_version is inner.maximum_version is either.TLSVersion.TLSv1_3
    assert inner.verify_flags is either.VerifyFlags.VERIFY_X509_STRICT


def test_the_base_refuses_what_the_stdlib_s_base_refuses(either):
    base = super(either.SSLContext, either.SSLContext)
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(ValueError, match="check_hostname is enabled"):
        base.verify_mode.__set__(ctx, either.CERT_NONE)
    with pytest.raises(ValueError, match="invalid value for verify_mode"):
        base.verify_mode.__set__(ctx, 7)
    assert type(base.verify_mode.__get__(ctx)) is int


# ---- connections made by the base -------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda m, ctx: ctx._wrap_bio(1, m.MemoryBIO(), False),
        lambda m, ctx: ctx._wrap_bio(m.MemoryBIO(), "out", False),
        lambda m, ctx: ctx._wrap_socket(1, False),
        # A plain _socket.socket takes no weak reference.
        lambda m, ctx: ctx._wrap_socket(PLAIN_SOCKET, False),
        lambda m, ctx: ctx._wrap_bio(m.MemoryBIO(), m.MemoryBIO(), False, b"bytes"),
        lambda m, ctx: ctx._wrap_bio(m.MemoryBIO(), m.MemoryBIO(), False, "nul\0name"),
        lambda m, ctx: ctx._wrap_bio(
            m.MemoryBIO(), m.MemoryBIO(), False, None, owner=3
        ),
    ],
    ids=[
        "incoming",
        "outgoing",
        "not-a-socket",
        "no-weakref",
        "bytes-name",
        "nul-name",
        "int-owner",
    ],
)
def test_wrong_arguments_to_the_wrappers_are_type_errors(either, make):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(TypeError):
        make(either, ctx)


PLAIN_SOCKET = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
PLAIN_SOCKET.close()


def test_a_client_context_refuses_a_server_connection(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(either.SSLError, match="Cannot create a server socket"):
        ctx._wrap_bio(either.MemoryBIO(), either.MemoryBIO(), True)


def test_the_base_connection_has_the_owner_it_was_given(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    assert ctx._wrap_bio(either.MemoryBIO(), either.MemoryBIO(), False).owner is None

    class Owner:
        pass

    owner = Owner()
    sslobj = ctx._wrap_bio(
        either.MemoryBIO(), either.MemoryBIO(), False, "localhost", owner=owner
    )
    assert (sslobj.owner, sslobj.server_hostname, sslobj.server_side) == (
        owner,
        "localhost",
        False,
    )
    assert isinstance(sslobj, either._ssl._SSLSocket)


def describe(value: Any, module: Any) -> Any:
    """A value as its type names, the layer types under the stdlib's names."""
    if isinstance(value, list):
        return ["list", *sorted({describe(item, module) for item in value})]
    if isinstance(value, tuple):
        return ("tuple", *(describe(item, module) for item in value))
    return layer_name(type(value), module)


SSLOBJ_CALLS = {
    "cipher": lambda o: o.cipher(),
    "compression": lambda o: o.compression(),
    "tls-unique": lambda o: o.get_channel_binding("tls-unique"),
    "get_unverified_chain": lambda o: o.get_unverified_chain(),
    "get_verified_chain": lambda o: o.get_verified_chain(),
    "getpeercert": lambda o: o.getpeercert(),
    "getpeercert(True)": lambda o: o.getpeercert(True),
    "pending": lambda o: o.pending(),
    "selected_alpn_protocol": lambda o: o.selected_alpn_protocol(),
    "session": lambda o: o.session,
    "session_reused": lambda o: o.session_reused,
    "shared_ciphers": lambda o: o.shared_ciphers(),
    "version": lambda o: o.version(),
    "owner": lambda o: o.owner,
    "server_hostname": lambda o: o.server_hostname,
    "server_side": lambda o: o.server_side,
    "context": lambda o: o.context,
}


def sslobj_results(module: Any, certs: Any) -> dict[str, Any]:
    pair = BioPair(
        client_context(module, certs), server_context(module, certs)
    ).handshake()
    sslobj = pair.client._sslobj
    assert isinstance(sslobj, module._ssl._SSLSocket)
    return {name: describe(call(sslobj), module) for name, call in SSLOBJ_CALLS.items()}


def test_sslobj_methods_return_what_the_stdlib_s_return(certs):
    assert sslobj_results(pyssl, certs) == sslobj_results(STDLIB_SSL, certs)


def test_public_chains_are_der_bytes_that_answer_certificate_calls(certs):
    """From Python 3.13 the public chain getters return DER bytes, exactly
    bytes; before, the stdlib has none, and pyssl's return DER bytes that
    also answer the calls code written for those versions makes on
    ``_sslobj``'s Certificate objects (truststore finds the method by
    hasattr from the outside in)."""
    pair = BioPair(
        client_context(pyssl, certs), server_context(pyssl, certs)
    ).handshake()
    chain = pair.client.get_unverified_chain()
    certificates = pair.client._sslobj.get_unverified_chain()
    assert chain == [
        cert.public_bytes(pyssl._ssl.ENCODING_DER) for cert in certificates
    ]
    if sys.version_info >= (3, 13):
        assert {type(der) for der in chain} == {bytes}
        assert hasattr(STDLIB_SSL.SSLObject, "get_unverified_chain")
    else:
        assert not hasattr(STDLIB_SSL.SSLObject, "get_unverified_chain")
        assert [der.public_bytes(pyssl._ssl.ENCODING_DER) for der in chain] == chain
        assert [der.public_bytes(pyssl._ssl.ENCODING_PEM) for der in chain] == [
            cert.public_bytes(pyssl._ssl.ENCODING_PEM) for cert in certificates
        ]
        assert chain[0].get_info() == certificates[0].get_info()


# ---- module globals looked up at call time -------------------------------------


@pytest.mark.parametrize(
    "function",
    [
        "create_default_context",
        "_create_default_https_context",
        "_create_unverified_context",
        "_create_stdlib_context",
    ],
)
def test_module_functions_build_the_module_s_current_sslcontext(
    either, monkeypatch, function
):
    original = either.SSLContext
    base = super(original, original)

    class Replacement(original):
        # As gevent's replacement does: the stdlib's setters reach the base
        # through the module's global SSLContext, which is this class now.
        @original.verify_mode.setter
        def verify_mode(self, value):
            base.verify_mode.__set__(self, value)

        @original.verify_flags.setter
        def verify_flags(self, value):
            base.verify_flags.__set__(self, value)

    monkeypatch.setattr(either, "SSLContext", Replacement)
    assert type(getattr(either, function)()) is Replacement


def test_wrap_bio_and_wrap_socket_use_the_classes_the_context_names(either, certs):
    class Object(either.SSLObject):
        pass

    class Socket(either.SSLSocket):
        pass

    ctx = client_context(either, certs)
    ctx.sslobject_class = Object
    ctx.sslsocket_class = Socket
    assert (
        type(ctx.wrap_bio(either.MemoryBIO(), either.MemoryBIO(), server_hostname="x"))
        is Object
    )
    left, right = socket.socketpair()
    with left, right:
        wrapped = ctx.wrap_socket(
            left, server_hostname="x", do_handshake_on_connect=False
        )
        with wrapped:
            assert type(wrapped) is Socket
            assert isinstance(wrapped._sslobj, either._ssl._SSLSocket)
