"""SSLContext.load_cert_chain(certfile, keyfile=None, password=None): the
password forms, the errors for bad files and arguments, and the chain a
peer then sees in the handshake."""

from __future__ import annotations

import errno
import importlib.util
import os
import pathlib

import pytest

import pyssl
from conftest import (
    PASSWORD,
    client_context,
    der_certificate,
    needs_openssl,
    outcome,
    server_context,
)


def server_ctx(module):
    return module.SSLContext(module.PROTOCOL_TLS_SERVER)


def der_of(pem_path):
    return der_certificate(pathlib.Path(pem_path).read_text())


class PathLike:
    def __init__(self, path):
        self.path = path

    def __fspath__(self):
        return self.path


def returning(value):
    return lambda: value


# ---- passwords ------------------------------------------------------------------

PASSWORD_FORMS = {
    "str": PASSWORD,
    "bytes": PASSWORD.encode(),
    "bytearray": bytearray(PASSWORD.encode()),
    "callable-str": returning(PASSWORD),
    "callable-bytes": returning(PASSWORD.encode()),
    "callable-bytearray": returning(bytearray(PASSWORD.encode())),
}


def test_wrong_password_error_number_is_the_stdlibs(stdlib, certs):
    numbers = []
    for module in (pyssl, stdlib):
        with pytest.raises(module.SSLError) as info:
            server_ctx(module).load_cert_chain(
                certs.server_cert, certs.server_key_encrypted, "wrong"
            )
        numbers.append((info.value.args[0], info.value.library, info.value.errno))
    assert numbers[0] == numbers[1]


class Refused(Exception):
    pass


# ---- the certificate and the key --------------------------------------------


def test_key_mismatch_error_number_is_the_stdlibs(stdlib, certs):
    numbers = []
    for module in (pyssl, stdlib):
        with pytest.raises(module.SSLError) as info:
            server_ctx(module).load_cert_chain(certs.server_cert, certs.other_key)
        numbers.append(info.value.args[0])
    assert numbers[0] == numbers[1]


@pytest.mark.parametrize("content", ["key-only", "ca-only", "empty"])
def test_file_without_a_certificate_and_key_raises_ssl_error(stdlib, certs, content):
    path = {"key-only": certs.server_key, "ca-only": certs.ca, "empty": os.devnull}[
        content
    ]

    def load(module):
        try:
            server_ctx(module).load_cert_chain(path)
        except module.SSLError as exc:
            return type(exc).__name__, exc.args[0], exc.library

    assert outcome(load, pyssl) == outcome(load, stdlib)
    assert load(pyssl)[0] == "SSLError"


# ---- the loaded chain in a handshake -------------------------------------------


def peer_certificate(tls):
    return tls.getpeercert(binary_form=True)


def observing_with(module):
    """Skip where ``module`` cannot report the peer's certificate."""
    if module is pyssl and importlib.util.find_spec("pyssl._x509") is None:
        pytest.skip(
            "pyssl reports peer certificates through pyssl._x509, not in this tree yet"
        )
