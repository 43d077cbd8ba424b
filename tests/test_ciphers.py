"""Cipher selection: SSLContext.set_ciphers() and get_ciphers(), and what a
connection reports: cipher(), shared_ciphers() and compression()."""

from __future__ import annotations

import pytest
from peers import client_context, server_context
from ssl_modules import outcome

import pyssl

GET_CIPHERS_KEYS = {
    "id",
    "name",
    "protocol",
    "description",
    "strength_bits",
    "alg_bits",
    "aead",
    "symmetric",
    "digest",
    "kea",
    "auth",
}


def new_context(module, protocol="PROTOCOL_TLS_CLIENT"):
    return module.SSLContext(getattr(module, protocol))


def tls12_only(ctx, module, ciphers):
    ctx.maximum_version = module.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers)
    return ctx


# ---- set_ciphers -------------------------------------------------------------------


@pytest.mark.parametrize(
    "ciphers", ["^$^$", "", "TLS_AES_128_GCM_SHA256", "@SECLEVEL=5", "AESGCM\u00e9"]
)
def test_cipher_string_matching_nothing_raises_ssl_error(either, ciphers):
    with pytest.raises(either.SSLError) as info:
        new_context(either).set_ciphers(ciphers)
    assert type(info.value) is either.SSLError
    assert info.value.args == ("No cipher can be selected.",)


@pytest.mark.parametrize("ciphers", ["^$^$", "TLS_AES_128_GCM_SHA256"])
def test_failed_cipher_string_leaves_the_stdlibs_list(stdlib, ciphers):
    def after_failure(module):
        ctx = new_context(module)
        with pytest.raises(module.SSLError):
            ctx.set_ciphers(ciphers)
        return ctx.get_ciphers()

    assert outcome(after_failure, pyssl) == outcome(after_failure, stdlib)


@pytest.mark.parametrize("ciphers", [None, b"AESGCM", 3, "AES\0GCM", "AESGCM:\udc80"])
def test_cipher_string_of_a_wrong_type_fails_as_in_the_stdlib(stdlib, ciphers):
    def setting(module):
        new_context(module).set_ciphers(ciphers)

    result = outcome(setting, pyssl)
    assert result == outcome(setting, stdlib)
    assert result[1] in ("TypeError", "ValueError", "UnicodeEncodeError")


def test_cipher_string_is_positional_only(either):
    with pytest.raises(TypeError):
        new_context(either).set_ciphers(ciphers="AESGCM")


def test_unknown_names_in_a_list_are_skipped(either):
    ctx = new_context(either)
    ctx.set_ciphers("ECDHE+AESGCM:no-such-cipher:caf\u00e9")
    names = [
        cipher["name"]
        for cipher in ctx.get_ciphers()
        if cipher["protocol"] == "TLSv1.2"
    ]
    assert names and all(name.startswith("ECDHE-") and "GCM" in name for name in names)


# ---- get_ciphers -------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["PROTOCOL_TLS_CLIENT", "PROTOCOL_TLS_SERVER"])
@pytest.mark.parametrize(
    "ciphers",
    [None, "DEFAULT", "AESGCM", "ECDHE+CHACHA20:!ECDSA", "ALL:@SECLEVEL=0", "aNULL"],
)
@pytest.mark.parametrize("versions", ["any", "tls1.2-only", "tls1.3-only"])
def test_get_ciphers_is_the_stdlibs_list(
    stdlib_on_the_same_openssl, protocol, ciphers, versions
):
    def enabled(module):
        ctx = new_context(module, protocol)
        if ciphers is not None:
            ctx.set_ciphers(ciphers)
        if versions == "tls1.2-only":
            ctx.maximum_version = module.TLSVersion.TLSv1_2
        elif versions == "tls1.3-only":
            ctx.minimum_version = module.TLSVersion.TLSv1_3
        return ctx.get_ciphers()

    result = outcome(enabled, pyssl)
    assert result == outcome(enabled, stdlib_on_the_same_openssl)
    assert result[0] == "returned"


def test_get_ciphers_describes_each_cipher(either):
    ciphers = new_context(either).get_ciphers()
    assert isinstance(ciphers, list) and ciphers
    for cipher in ciphers:
        assert set(cipher) == GET_CIPHERS_KEYS
        assert cipher["description"].startswith(cipher["name"])
        assert type(cipher["aead"]) is bool and type(cipher["strength_bits"]) is int
    # TLS 1.3 suites come first, as OpenSSL orders them.
    protocols = [cipher["protocol"] for cipher in ciphers]
    assert protocols[0] == "TLSv1.3" and protocols == sorted(
        protocols, key=lambda p: p != "TLSv1.3"
    )


def test_set_ciphers_restricts_get_ciphers(either):
    ctx = new_context(either)
    ctx.set_ciphers("ECDHE+AESGCM:!AES256")
    tls12 = [cipher for cipher in ctx.get_ciphers() if cipher["protocol"] == "TLSv1.2"]
    assert tls12 and all(
        cipher["symmetric"] == "aes-128-gcm" and cipher["kea"] == "kx-ecdhe"
        for cipher in tls12
    )


# ---- a connection's cipher -------------------------------------------------------


def cipher_view(tls):
    return tls.cipher(), tls.shared_ciphers(), tls.compression()


@pytest.mark.parametrize("pyssl_side", ["client", "server"])
def test_both_ends_report_the_same_tls13_cipher(handshake, certs, peer, pyssl_side):
    client_module, server_module = (
        (pyssl, peer) if pyssl_side == "client" else (peer, pyssl)
    )
    client, server = handshake(
        server_context(server_module, certs),
        client_context(client_module, certs),
        on_server=cipher_view,
        on_client=cipher_view,
    )
    name, protocol, bits = client[0]
    assert server[0] == client[0]
    assert protocol == "TLSv1.3" and name.startswith("TLS_") and bits in (128, 256)
    assert name in [cipher["name"] for cipher in new_context(pyssl).get_ciphers()]


@pytest.mark.parametrize("pyssl_side", ["client", "server"])
def test_tls12_cipher_is_one_the_client_allowed(handshake, certs, peer, pyssl_side):
    client_module, server_module = (
        (pyssl, peer) if pyssl_side == "client" else (peer, pyssl)
    )
    client_ctx = tls12_only(
        client_context(client_module, certs), client_module, "ECDHE+AESGCM:!AES256"
    )
    client, server = handshake(
        server_context(server_module, certs),
        client_ctx,
        on_server=cipher_view,
        on_client=cipher_view,
    )
    allowed = [
        cipher["name"]
        for cipher in client_ctx.get_ciphers()
        if cipher["protocol"] == "TLSv1.2"
    ]
    assert client[0] == server[0]
    assert client[0][0] in allowed and client[0][1:] == ("TLSv1.2", 128)


def views_of_a_pyssl_server(handshake, certs, client_module):
    return handshake(
        server_context(pyssl, certs),
        client_context(client_module, certs),
        on_server=cipher_view,
        on_client=cipher_view,
    )


def test_shared_ciphers_are_listed_by_the_server_only(handshake, certs, peer):
    client, server = views_of_a_pyssl_server(handshake, certs, peer)
    assert client[1] is None
    assert isinstance(server[1], list) and server[1]
    assert all(type(entry) is tuple and len(entry) == 3 for entry in server[1])
    assert server[0] in server[1]


@pytest.mark.parametrize("client_ciphers", [None, "ECDHE+AESGCM", "ECDHE+CHACHA20"])
def test_shared_ciphers_are_the_stdlib_servers(
    handshake, certs, stdlib, client_ciphers
):
    """For one client, a pyssl server and a stdlib server list the same
    shared ciphers, in the same (server preference) order."""
    shared = []
    for module in (pyssl, stdlib):
        client_ctx = client_context(stdlib, certs)
        if client_ciphers is not None:
            client_ctx.set_ciphers(client_ciphers)
        _client, server = handshake(
            server_context(module, certs), client_ctx, on_server=cipher_view
        )
        shared.append(server[1])
    assert shared[0] == shared[1]
    if client_ciphers is not None:
        offered = {cipher["name"] for cipher in client_ctx.get_ciphers()}
        assert {name for name, _protocol, _bits in shared[0]} <= offered


def test_compression_is_off_on_both_ends(handshake, certs, peer):
    client, server = views_of_a_pyssl_server(handshake, certs, peer)
    assert client[2] is None and server[2] is None


def test_before_the_handshake_there_is_no_cipher(serve, certs, either):
    server = serve(lambda conn: conn.recv(1))  # waits for the client to close
    with server.connect() as raw:
        tls = client_context(either, certs).wrap_socket(
            raw, server_hostname="localhost", do_handshake_on_connect=False
        )
        with tls:
            assert (tls.cipher(), tls.shared_ciphers(), tls.compression()) == (
                None,
                None,
                None,
            )
    server.join()


def test_server_before_the_handshake_has_no_shared_ciphers(serve, certs, either):
    def handler(conn):
        with server_context(either, certs).wrap_socket(
            conn, server_side=True, do_handshake_on_connect=False
        ) as tls:
            return tls.cipher(), tls.shared_ciphers(), tls.compression()

    server = serve(handler)
    with server.connect():
        assert server.join() == [(None, None, None)]
