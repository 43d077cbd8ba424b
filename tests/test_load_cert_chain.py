"""SSLContext.load_cert_chain(certfile, keyfile=None, password=None): the
password forms, the errors for bad files and arguments, and the chain a
peer then sees in the handshake."""

from __future__ import annotations

import errno
import importlib.util
import os
import pathlib

import pytest
from cert_files import PASSWORD, PASSWORD_FORMS, der_certificate, der_of, returning
from openssl_cli import needs_openssl
from peers import client_context, server_context
from ssl_modules import outcome

import pyssl


def server_ctx(module):
    return module.SSLContext(module.PROTOCOL_TLS_SERVER)


class PathLike:
    def __init__(self, path):
        self.path = path

    def __fspath__(self):
        return self.path


# ---- passwords ------------------------------------------------------------------

# PASSWORD_FORMS, and a callable that returns a bytearray.
FILE_PASSWORD_FORMS = {
    **PASSWORD_FORMS,
    "callable-bytearray": returning(bytearray(PASSWORD.encode())),
}


@pytest.mark.parametrize("form", FILE_PASSWORD_FORMS)
def test_password_decrypts_the_key(either, certs, form):
    ctx = server_ctx(either)
    assert (
        ctx.load_cert_chain(
            certs.server_cert, certs.server_key_encrypted, FILE_PASSWORD_FORMS[form]
        )
        is None
    )


@pytest.mark.parametrize("form", ["str", "callable-bytes"])
def test_key_decrypted_with_a_password_serves_a_handshake(handshake, certs, peer, form):
    ctx = server_ctx(pyssl)
    ctx.load_cert_chain(
        certs.server_cert,
        keyfile=certs.server_key_encrypted,
        password=FILE_PASSWORD_FORMS[form],
    )
    assert handshake(ctx, client_context(peer, certs)) == ("TLSv1.3", "TLSv1.3")


@pytest.mark.parametrize("password", ["wrong", b"", returning("wrong"), "x" * 1024])
def test_wrong_password_raises_ssl_error(either, certs, password):
    ctx = server_ctx(either)
    with pytest.raises(either.SSLError) as info:
        ctx.load_cert_chain(certs.server_cert, certs.server_key_encrypted, password)
    assert type(info.value) is either.SSLError
    assert info.value.library == "SSL"


def test_wrong_password_error_number_is_the_stdlibs(stdlib, certs):
    numbers = []
    for module in (pyssl, stdlib):
        with pytest.raises(module.SSLError) as info:
            server_ctx(module).load_cert_chain(
                certs.server_cert, certs.server_key_encrypted, "wrong"
            )
        numbers.append((info.value.args[0], info.value.library, info.value.errno))
    assert numbers[0] == numbers[1]


@pytest.mark.parametrize("value", [3, None, memoryview(b"x"), ["x"]])
def test_password_callback_returning_a_wrong_type_raises_type_error(
    either, certs, value
):
    ctx = server_ctx(either)
    with pytest.raises(TypeError) as info:
        ctx.load_cert_chain(
            certs.server_cert, certs.server_key_encrypted, returning(value)
        )
    assert info.value.args == ("password callback must return a string",)


class Refused(Exception):
    pass


@pytest.mark.parametrize(
    "exception", [Refused("no password for you"), KeyboardInterrupt()]
)
def test_exception_in_the_password_callback_propagates(either, certs, exception):
    def password():
        raise exception

    ctx = server_ctx(either)
    with pytest.raises(type(exception)) as info:
        ctx.load_cert_chain(certs.server_cert, certs.server_key_encrypted, password)
    assert info.value is exception


@pytest.mark.parametrize(
    "password",
    ["x" * 1025, b"x" * 100_000, returning("x" * 1025), returning(b"y" * 4096)],
)
def test_password_too_long_raises_value_error(either, certs, password):
    ctx = server_ctx(either)
    with pytest.raises(ValueError) as info:
        ctx.load_cert_chain(certs.server_cert, certs.server_key_encrypted, password)
    assert info.value.args == ("password cannot be longer than 1024 bytes",)


@pytest.mark.parametrize(
    "password", [3, 1.5, memoryview(PASSWORD.encode()), [PASSWORD], object()]
)
def test_password_of_a_wrong_type_raises_type_error(either, certs, password):
    ctx = server_ctx(either)
    with pytest.raises(TypeError) as info:
        ctx.load_cert_chain(certs.server_cert, certs.server_key_encrypted, password)
    assert info.value.args == ("password should be a string or callable",)


def test_password_callback_is_not_called_for_a_plain_key(either, certs):
    calls = []

    def password():
        calls.append(1)
        return PASSWORD

    server_ctx(either).load_cert_chain(certs.server_cert, certs.server_key, password)
    assert calls == []


# ---- the certificate and the key --------------------------------------------


def test_key_not_matching_the_certificate_raises_key_values_mismatch(either, certs):
    ctx = server_ctx(either)
    with pytest.raises(either.SSLError) as info:
        ctx.load_cert_chain(certs.server_cert, certs.other_key)
    assert (info.value.library, info.value.reason) == ("X509", "KEY_VALUES_MISMATCH")
    assert str(info.value).startswith("[X509: KEY_VALUES_MISMATCH] key values mismatch")


def test_key_mismatch_error_number_is_the_stdlibs(stdlib, certs):
    numbers = []
    for module in (pyssl, stdlib):
        with pytest.raises(module.SSLError) as info:
            server_ctx(module).load_cert_chain(certs.server_cert, certs.other_key)
        numbers.append(info.value.args[0])
    assert numbers[0] == numbers[1]


@pytest.mark.parametrize("files", ["certfile", "keyfile"])
def test_missing_file_raises_file_not_found(either, certs, files):
    missing = str(certs.tmpdir / "does-not-exist.pem")
    arguments = (missing, None) if files == "certfile" else (certs.server_cert, missing)
    with pytest.raises(FileNotFoundError) as info:
        server_ctx(either).load_cert_chain(*arguments)
    assert info.value.errno == errno.ENOENT


def test_directory_as_certfile_raises_is_a_directory(either, certs):
    with pytest.raises(IsADirectoryError):
        server_ctx(either).load_cert_chain(str(certs.tmpdir))


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


@pytest.mark.parametrize("kind", [str, os.fsencode, pathlib.Path, PathLike])
def test_paths_may_be_str_bytes_or_path_like(either, certs, kind):
    ctx = server_ctx(either)
    assert ctx.load_cert_chain(kind(certs.server_cert), kind(certs.server_key)) is None
    assert ctx.load_cert_chain(certfile=kind(certs.server_chain)) is None


@pytest.mark.parametrize(
    "value", [None, 3, bytearray(b"server.pem"), ["server.pem"], PathLike(3)]
)
def test_certfile_of_a_wrong_type_raises_type_error(either, value):
    with pytest.raises(TypeError) as info:
        server_ctx(either).load_cert_chain(value)
    assert info.value.args == ("certfile should be a valid filesystem path",)


@pytest.mark.parametrize("value", [3, bytearray(b"key.pem"), 1.5])
def test_keyfile_of_a_wrong_type_raises_type_error(either, certs, value):
    with pytest.raises(TypeError) as info:
        server_ctx(either).load_cert_chain(certs.server_cert, value)
    assert info.value.args == ("keyfile should be a valid filesystem path",)


def test_path_with_a_null_byte_raises_value_error(either, certs):
    with pytest.raises(ValueError) as info:
        server_ctx(either).load_cert_chain(certs.server_chain + "\0")
    assert info.value.args == ("embedded null byte",)


# ---- the loaded chain in a handshake -------------------------------------------


def peer_certificate(tls):
    return tls.getpeercert(binary_form=True)


def observing_with(module):
    """Skip where ``module`` cannot report the peer's certificate."""
    if module is pyssl and importlib.util.find_spec("pyssl._x509") is None:
        pytest.skip(
            "pyssl reports peer certificates through pyssl._x509, not in this tree yet"
        )


def test_server_presents_the_loaded_certificate(handshake, certs, peer):
    observing_with(peer)
    ctx = server_ctx(pyssl)
    ctx.load_cert_chain(pathlib.Path(certs.server_cert), os.fsencode(certs.server_key))
    client, _server = handshake(
        ctx, client_context(peer, certs), on_client=peer_certificate
    )
    assert client == der_of(certs.server_cert)


def test_client_presents_the_loaded_certificate(handshake, certs, peer):
    observing_with(peer)
    server = server_context(peer, certs, verify_mode=peer.CERT_REQUIRED)
    server.load_verify_locations(certs.ca)
    client = client_context(pyssl, certs)
    client.load_cert_chain(certs.client_cert, certs.client_key)
    _client, seen = handshake(server, client, on_server=peer_certificate)
    assert seen == der_of(certs.client_cert)


def test_a_later_chain_replaces_the_earlier_one(handshake, certs, peer):
    observing_with(peer)
    ctx = server_ctx(pyssl)
    ctx.load_cert_chain(certs.client_chain)
    ctx.load_cert_chain(certs.server_chain)
    client, _server = handshake(
        ctx, client_context(peer, certs), on_client=peer_certificate
    )
    assert client == der_of(certs.server_cert)


@needs_openssl
def test_openssl_client_sees_the_certificate_of_a_decrypted_key(
    serve, certs, openssl_client
):
    ctx = server_ctx(pyssl)
    ctx.load_cert_chain(
        certs.server_cert, certs.server_key_encrypted, returning(PASSWORD)
    )

    def handler(conn):
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"chain loaded\n")
            return tls.version()

    server = serve(handler)
    client = openssl_client(server.port, "-showcerts")
    client.wait_for(b"chain loaded")
    assert server.join() == ["TLSv1.3"]
    transcript = b"".join(client.transcript).decode()
    first = transcript.index("-----BEGIN CERTIFICATE-----")
    assert der_certificate(transcript[first:]) == der_of(certs.server_cert)
