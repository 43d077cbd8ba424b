"""Cipher selection: SSLContext.set_ciphers() and get_ciphers(), and what a
connection reports: cipher(), shared_ciphers() and compression()."""

from __future__ import annotations

import pytest

import pyssl
from conftest import client_context, outcome, server_context

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


# ---- get_ciphers -------------------------------------------------------------------


# ---- a connection's cipher -------------------------------------------------------


def cipher_view(tls):
    return tls.cipher(), tls.shared_ciphers(), tls.compression()


def views_of_a_pyssl_server(handshake, certs, client_module):
    return handshake(
        server_context(pyssl, certs),
        client_context(client_module, certs),
        on_server=cipher_view,
        on_client=cipher_view,
    )
