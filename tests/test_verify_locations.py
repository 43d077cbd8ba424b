"""Trust anchors: SSLContext.load_verify_locations(cafile, capath, cadata),
load_default_certs() and set_default_verify_paths(), and what they decide
in a real handshake."""

from __future__ import annotations

import errno
import pathlib
import shutil
import subprocess

import pytest

import pyssl
from conftest import OPENSSL, der_certificate, outcome, server_context


def client_ctx(module):
    return module.SSLContext(module.PROTOCOL_TLS_CLIENT)


def pem(path):
    return pathlib.Path(path).read_text()


def der(path):
    return der_certificate(pem(path))


def loading(**arguments):
    """An action for outcome(): load_verify_locations(**arguments) on a new
    client context."""
    return lambda module: client_ctx(module).load_verify_locations(**arguments)


# ---- cadata ---------------------------------------------------------------------

CADATA_FORMS = {
    "pem-str": lambda certs: pem(certs.ca),
    "pem-str-with-others": lambda certs: pem(certs.other_ca) + pem(certs.ca),
    "der-bytes": lambda certs: der(certs.ca),
    "der-bytes-concatenated": lambda certs: der(certs.other_ca) + der(certs.ca),
    "der-bytearray": lambda certs: bytearray(der(certs.other_ca) + der(certs.ca)),
    "der-memoryview": lambda certs: memoryview(der(certs.other_ca) + der(certs.ca)),
}


def test_contiguous_buffer_of_any_shape_is_read_as_its_bytes(
    either, certs, verify_with
):
    data = der(certs.other_ca) + der(certs.ca)
    ctx = client_ctx(either)
    ctx.load_verify_locations(cadata=memoryview(data).cast("B", (1, len(data))))
    assert verify_with(ctx) == "TLSv1.3"


def test_cadata_ending_in_a_broken_pem_block_raises_ssl_error(stdlib, certs):
    cadata = (
        pem(certs.ca) + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    errors = []
    for module in (pyssl, stdlib):
        with pytest.raises(module.SSLError) as info:
            client_ctx(module).load_verify_locations(cadata=cadata)
        errors.append(
            (type(info.value).__name__, info.value.args[0], info.value.library)
        )
    assert errors[0] == errors[1]
    assert errors[0][2] == "PEM"


def test_cadata_with_trailing_garbage_after_der_raises_ssl_error(stdlib, certs):
    cadata = der(certs.ca) + b"garbage"
    errors = []
    for module in (pyssl, stdlib):
        with pytest.raises(module.SSLError) as info:
            client_ctx(module).load_verify_locations(cadata=cadata)
        errors.append((info.value.args[0], info.value.library, info.value.reason))
    assert errors[0] == errors[1]
    assert errors[0][1:] == ("ASN1", "NOT_ENOUGH_DATA")


def test_cadata_buffer_is_let_go_even_after_an_error(either):
    data = bytearray(b"garbage")
    with pytest.raises(either.SSLError) as info:
        client_ctx(either).load_verify_locations(cadata=data)
    assert info.value.args[0] == 0  # the traceback is still alive here
    data.extend(b" and more")  # BufferError while the buffer is still held


def test_non_contiguous_cadata_raises_buffer_error(stdlib, certs):
    data = der(certs.ca) * 2
    strided = memoryview(data)[::2]
    result = outcome(loading(cadata=strided), pyssl)
    assert result == outcome(loading(cadata=strided), stdlib)
    assert result[1] == "BufferError"


# ---- cafile and capath --------------------------------------------------------


@pytest.mark.parametrize("content", ["der", "key", "empty"])
def test_cafile_without_a_pem_certificate_raises_ssl_error(
    stdlib, certs, tmp_path, content
):
    path = tmp_path / "not-a-ca.pem"
    path.write_bytes(
        {
            "der": der(certs.ca),
            "key": pathlib.Path(certs.server_key).read_bytes(),
            "empty": b"",
        }[content]
    )
    errors = []
    for module in (pyssl, stdlib):
        with pytest.raises(module.SSLError) as info:
            client_ctx(module).load_verify_locations(str(path))
        errors.append((info.value.args[0], info.value.library, info.value.reason))
    assert errors[0] == errors[1]
    assert errors[0][1:] == ("X509", "NO_CERTIFICATE_OR_CRL_FOUND")


def hashed_directory(directory, *ca_files):
    """A capath directory: each CA under its subject hash, as OpenSSL looks
    certificates up there."""
    directory.mkdir()
    for ca_file in ca_files:
        subject_hash = subprocess.run(
            [OPENSSL, "x509", "-hash", "-noout", "-in", ca_file],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        shutil.copy(ca_file, directory / f"{subject_hash}.0")
    return directory


@pytest.fixture
def capath(tmp_path, certs):
    if OPENSSL is None:
        pytest.skip("the openssl program is not installed")
    return {
        "trusting": hashed_directory(tmp_path / "trusting", certs.other_ca, certs.ca),
        "other": hashed_directory(tmp_path / "other", certs.other_ca),
    }


# ---- verification against a peer ----------------------------------------------


# ---- the default locations -------------------------------------------------------
