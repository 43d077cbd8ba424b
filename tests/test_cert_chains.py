"""get_verified_chain() and get_unverified_chain() of SSLSocket and
SSLObject: the peer's certificates as DER bytes, leaf first.

The verified chain is the one verification built, ending at the trusted
CA; the unverified chain is what the peer sent. Both are [] before the
handshake and when the peer sent no certificate. The stdlib made them
public in 3.13 (the checks run on both modules where it has them); below
them, on ``_sslobj``, both modules return Certificate objects."""

from __future__ import annotations

import importlib
import socket
from dataclasses import dataclass

import pytest
import trustme
from cert_files import der_certificate, der_of
from peers import BioPair, client_context, converse, server_context
from ssl_modules import module_named, module_offering

import pyssl


def chain_module(name):
    return module_offering(
        name,
        "SSLSocket",
        "get_verified_chain",
        "public get_verified_chain() (new in 3.13)",
    )


@pytest.fixture(params=["pyssl", "stdlib"])
def either(request):
    """pyssl or the stdlib, where the stdlib has the public methods."""
    return chain_module(request.param)


def low_level(module):
    """The module's ``_ssl`` (ENCODING_DER, Certificate)."""
    return (
        importlib.import_module(f"{module.__name__}._ssl")
        if module.__name__ == "pyssl"
        else module._ssl
    )


@dataclass(frozen=True)
class Pki:
    """Files and DER certificates of a root CA, an intermediate CA and two
    leaves the intermediate issued."""

    root_file: str
    server_chain_file: str  # key, leaf, intermediate
    client_chain_file: str
    root: bytes
    intermediate: bytes
    server: bytes
    client: bytes


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root = trustme.CA()
    intermediate = root.create_child_ca()
    server = intermediate.issue_cert("localhost")
    client = intermediate.issue_cert("client@example.org")
    base = tmp_path_factory.mktemp("pki")
    paths = {name: str(base / f"{name}.pem") for name in ("root", "server", "client")}
    root.cert_pem.write_to_path(paths["root"])
    server.private_key_and_cert_chain_pem.write_to_path(paths["server"])
    client.private_key_and_cert_chain_pem.write_to_path(paths["client"])

    def der(blob):
        return der_certificate(blob.bytes().decode())

    return Pki(
        paths["root"],
        paths["server"],
        paths["client"],
        der(root.cert_pem),
        der(intermediate.cert_pem),
        der(server.cert_chain_pems[0]),
        der(client.cert_chain_pems[0]),
    )


def chains(tls):
    return tls.get_verified_chain(), tls.get_unverified_chain()


def pki_contexts(module, pki, client_certificate=False):
    server_ctx = module.SSLContext(module.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(pki.server_chain_file)
    client_ctx = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(pki.root_file)
    if client_certificate:
        server_ctx.verify_mode = module.CERT_REQUIRED
        server_ctx.load_verify_locations(pki.root_file)
        client_ctx.load_cert_chain(pki.client_chain_file)
    return server_ctx, client_ctx


# ---- on the client ------------------------------------------------------------------------


def test_a_chain_without_intermediates(serve, certs, either):
    _server, (verified, unverified) = converse(
        serve, server_context(either, certs), client_context(either, certs), chains
    )
    leaf, ca = der_of(certs.server_cert), der_of(certs.ca)
    assert verified == [leaf, ca]
    assert unverified == [leaf]
    # Exactly bytes from Python 3.13, bytes that also answer Certificate's
    # calls before (test_stdlib_layout.py).
    assert all(isinstance(der, bytes) for der in verified + unverified)


def test_a_chain_with_an_intermediate(serve, either, pki):
    _server, (verified, unverified) = converse(
        serve, *pki_contexts(either, pki), chains
    )
    assert verified == [pki.server, pki.intermediate, pki.root]
    assert unverified == [pki.server, pki.intermediate]  # what the server sent


def test_a_trusted_intermediate_ends_the_verified_chain(serve, either, pki):
    # With the intermediate trusted too, OpenSSL still builds up to the
    # root it holds (X509_V_FLAG_TRUSTED_FIRST stops at the first trusted
    # certificate only when it is self-signed or partial chains are allowed).
    server_ctx, client_ctx = pki_contexts(either, pki)
    client_ctx.load_verify_locations(cadata=pki.intermediate)
    client_ctx.verify_flags |= either.VERIFY_X509_PARTIAL_CHAIN
    _server, (verified, unverified) = converse(serve, server_ctx, client_ctx, chains)
    assert verified == [pki.server, pki.intermediate]
    assert unverified == [pki.server, pki.intermediate]


def test_without_verification_both_are_what_the_server_sent(serve, either, pki):
    # As documented: with verification disabled the "verified" chain is
    # the unverified one (OpenSSL keeps the chain it could not complete).
    server_ctx, _client_ctx = pki_contexts(either, pki)
    client_ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = either.CERT_NONE  # and no CA loaded
    _server, (verified, unverified) = converse(serve, server_ctx, client_ctx, chains)
    assert verified == unverified == [pki.server, pki.intermediate]


# ---- on the server -----------------------------------------------------------------------


def test_the_clients_chain_on_the_server(serve, either, pki):
    (verified, unverified), _client = converse(
        serve, *pki_contexts(either, pki, client_certificate=True), chains
    )
    assert verified == [pki.client, pki.intermediate, pki.root]
    # OpenSSL leaves the client's own certificate out of what it keeps of
    # the chain; it is put back in front.
    assert unverified == [pki.client, pki.intermediate]


@pytest.mark.parametrize("mode", ["CERT_NONE", "CERT_OPTIONAL"])
def test_no_client_certificate(serve, either, pki, mode):
    if mode == "CERT_OPTIONAL" and either.__name__ != "pyssl":
        pytest.skip(
            "the stdlib's get_unverified_chain() raises AttributeError here: "
            "its chain holds None for the certificate the client did not send"
        )
    server_ctx, client_ctx = pki_contexts(either, pki)
    server_ctx.verify_mode = getattr(either, mode)
    server_ctx.load_verify_locations(pki.root_file)
    ends = converse(serve, server_ctx, client_ctx, chains)
    assert ends[0] == ([], [])
    assert ends[1] == (
        [pki.server, pki.intermediate, pki.root],
        [pki.server, pki.intermediate],
    )


# ---- before the handshake, and SSLObject ---------------------------------------------------------


def test_empty_before_the_handshake(serve, either, pki):
    ends = converse(
        serve,
        *pki_contexts(either, pki, client_certificate=True),
        chains,
        probe_before_handshake=True,
    )
    (server_before, server_after), (client_before, client_after) = ends
    assert server_before == client_before == ([], [])
    assert server_after[0][0] == pki.client
    assert client_after[0][0] == pki.server


def test_sslobject_chains(either, pki):
    pair = BioPair(*reversed(pki_contexts(either, pki, client_certificate=True)))
    assert chains(pair.client) == chains(pair.server) == ([], [])
    pair.handshake()
    assert chains(pair.client) == (
        [pki.server, pki.intermediate, pki.root],
        [pki.server, pki.intermediate],
    )
    assert chains(pair.server) == (
        [pki.client, pki.intermediate, pki.root],
        [pki.client, pki.intermediate],
    )


def test_an_unconnected_socket_has_no_connection_to_ask(either, pki):
    # Both modules fail alike: the methods need the connection object.
    _server_ctx, client_ctx = pki_contexts(either, pki)
    with client_ctx.wrap_socket(socket.socket(), server_hostname="localhost") as tls:
        for method in (tls.get_verified_chain, tls.get_unverified_chain):
            with pytest.raises(AttributeError):
                method()


# ---- Certificate objects below the public methods --------------------------------------------


@pytest.fixture(params=["pyssl", "stdlib"])
def any_module(request):
    """pyssl or the stdlib, on every version (``_sslobj`` has the methods
    since 3.10)."""
    return module_named(request.param)


def certificate_objects(tls):
    return tls._sslobj.get_verified_chain(), tls._sslobj.get_unverified_chain()


def test_the_connection_gives_certificate_objects(serve, any_module, pki):
    server_ends, client_ends = converse(
        serve,
        *pki_contexts(any_module, pki, client_certificate=True),
        certificate_objects,
    )
    low = low_level(any_module)
    for (verified, unverified), expected in (
        (client_ends, pki.server),
        (server_ends, pki.client),
    ):
        assert all(type(cert) is low.Certificate for cert in verified + unverified)
        assert [cert.public_bytes(low.ENCODING_DER) for cert in verified] == [
            expected,
            pki.intermediate,
            pki.root,
        ]
        assert [cert.public_bytes(low.ENCODING_DER) for cert in unverified] == [
            expected,
            pki.intermediate,
        ]
        # Equal certificates from the two chains, though not the same objects.
        assert verified[:2] == unverified
        assert hash(verified[0]) == hash(unverified[0])
        assert verified[0] != verified[1]
        pem = verified[0].public_bytes()  # PEM by default
        assert type(pem) is str
        assert der_certificate(pem) == expected


def test_the_connection_gives_none_without_certificates(serve, any_module, pki):
    server_ends, _client = converse(
        serve, *pki_contexts(any_module, pki), certificate_objects
    )
    assert server_ends == (None, None)


def test_the_connection_gives_none_when_an_optional_certificate_is_missing(serve, pki):
    # pyssl alone: the stdlib gives [None], a chain of one missing certificate.
    server_ctx, client_ctx = pki_contexts(pyssl, pki)
    server_ctx.verify_mode = pyssl.CERT_OPTIONAL
    server_ctx.load_verify_locations(pki.root_file)
    server_ends, _client = converse(serve, server_ctx, client_ctx, certificate_objects)
    assert server_ends == (None, None)


def test_the_connection_gives_none_before_the_handshake(serve, any_module, pki):
    ends = converse(
        serve,
        *pki_contexts(any_module, pki),
        certificate_objects,
        probe_before_handshake=True,
    )
    assert ends[1][0] == (None, None)
