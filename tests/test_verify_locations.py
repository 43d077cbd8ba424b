"""Trust anchors: SSLContext.load_verify_locations(cafile, capath, cadata),
load_default_certs() and set_default_verify_paths(), and what they decide
in a real handshake."""

from __future__ import annotations

import errno
import pathlib
import shutil
import subprocess

import pytest
from cert_files import der_of
from openssl_cli import OPENSSL
from peers import server_context
from ssl_modules import outcome

import pyssl


def client_ctx(module):
    return module.SSLContext(module.PROTOCOL_TLS_CLIENT)


def pem(path):
    return pathlib.Path(path).read_text()


def loading(**arguments):
    """An action for outcome(): load_verify_locations(**arguments) on a new
    client context."""
    return lambda module: client_ctx(module).load_verify_locations(**arguments)


# ---- cadata ---------------------------------------------------------------------

CADATA_FORMS = {
    "pem-str": lambda certs: pem(certs.ca),
    "pem-str-with-others": lambda certs: pem(certs.other_ca) + pem(certs.ca),
    "der-bytes": lambda certs: der_of(certs.ca),
    "der-bytes-concatenated": lambda certs: der_of(certs.other_ca) + der_of(certs.ca),
    "der-bytearray": lambda certs: bytearray(der_of(certs.other_ca) + der_of(certs.ca)),
    "der-memoryview": lambda certs: memoryview(
        der_of(certs.other_ca) + der_of(certs.ca)
    ),
}


@pytest.mark.parametrize("form", CADATA_FORMS)
def test_cadata_trusts_the_certificates_it_holds(either, certs, verify_with, form):
    ctx = client_ctx(either)
    assert ctx.load_verify_locations(cadata=CADATA_FORMS[form](certs)) is None
    assert verify_with(ctx) == "TLSv1.3"


@pytest.mark.parametrize("form", ["pem-str", "der-bytes"])
def test_cadata_without_the_issuer_trusts_nothing_more(
    either, certs, verify_with, form
):
    ctx = client_ctx(either)
    ctx.load_verify_locations(
        cadata=pem(certs.other_ca) if form == "pem-str" else der_of(certs.other_ca)
    )
    assert type(verify_with(ctx)) is either.SSLCertVerificationError


def test_loading_the_same_certificate_twice_is_harmless(either, certs, verify_with):
    ctx = client_ctx(either)
    ctx.load_verify_locations(cadata=pem(certs.ca))
    ctx.load_verify_locations(cadata=der_of(certs.ca))
    ctx.load_verify_locations(cafile=certs.ca)
    assert verify_with(ctx) == "TLSv1.3"


def test_contiguous_buffer_of_any_shape_is_read_as_its_bytes(
    either, certs, verify_with
):
    data = der_of(certs.other_ca) + der_of(certs.ca)
    ctx = client_ctx(either)
    ctx.load_verify_locations(cadata=memoryview(data).cast("B", (1, len(data))))
    assert verify_with(ctx) == "TLSv1.3"


@pytest.mark.parametrize(
    "cadata", ["garbage", b"garbage", b"\x30\x82\x01", "pem-as-bytes"]
)
def test_cadata_without_a_certificate_raises_ssl_error(stdlib, certs, cadata):
    if cadata == "pem-as-bytes":
        cadata = pem(certs.ca).encode()  # bytes are DER, whatever they hold
    result = outcome(loading(cadata=cadata), pyssl)
    assert result == outcome(loading(cadata=cadata), stdlib)
    what = "no start line" if isinstance(cadata, str) else "not enough data"
    assert result[1:3] == (
        "SSLError",
        (0, f"{what}: cadata does not contain a certificate"),
    )


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
    cadata = der_of(certs.ca) + b"garbage"
    errors = []
    for module in (pyssl, stdlib):
        with pytest.raises(module.SSLError) as info:
            client_ctx(module).load_verify_locations(cadata=cadata)
        errors.append((info.value.args[0], info.value.library, info.value.reason))
    assert errors[0] == errors[1]
    assert errors[0][1:] == ("ASN1", "NOT_ENOUGH_DATA")


@pytest.mark.parametrize("cadata", ["", b"", bytearray(), memoryview(b"")])
def test_empty_cadata_raises_value_error(either, cadata):
    with pytest.raises(ValueError) as info:
        client_ctx(either).load_verify_locations(cadata=cadata)
    assert info.value.args == ("Empty certificate data",)


@pytest.mark.parametrize("cadata", ["caf\u00e9", 3, object(), ["x"]])
def test_cadata_of_a_wrong_type_raises_type_error(either, cadata):
    with pytest.raises(TypeError) as info:
        client_ctx(either).load_verify_locations(cadata=cadata)
    assert info.value.args == (
        "cadata should be an ASCII string or a bytes-like object",
    )


def test_cadata_buffer_is_let_go_even_after_an_error(either):
    data = bytearray(b"garbage")
    with pytest.raises(either.SSLError) as info:
        client_ctx(either).load_verify_locations(cadata=data)
    assert info.value.args[0] == 0  # the traceback is still alive here
    data.extend(b" and more")  # BufferError while the buffer is still held


def test_non_contiguous_cadata_raises_buffer_error(stdlib, certs):
    data = der_of(certs.ca) * 2
    strided = memoryview(data)[::2]
    result = outcome(loading(cadata=strided), pyssl)
    assert result == outcome(loading(cadata=strided), stdlib)
    assert result[1] == "BufferError"


# ---- cafile and capath --------------------------------------------------------


def test_arguments_cannot_all_be_omitted(either):
    for arguments in ({}, {"cafile": None, "capath": None, "cadata": None}):
        with pytest.raises(TypeError) as info:
            client_ctx(either).load_verify_locations(**arguments)
        assert info.value.args == ("cafile, capath and cadata cannot be all omitted",)


@pytest.mark.parametrize("argument", ["cafile", "capath"])
@pytest.mark.parametrize("value", [3, bytearray(b"ca.pem"), ["ca.pem"], 1.5])
def test_path_of_a_wrong_type_raises_type_error(either, argument, value):
    with pytest.raises(TypeError) as info:
        client_ctx(either).load_verify_locations(**{argument: value})
    assert info.value.args == (f"{argument} should be a valid filesystem path",)


@pytest.mark.parametrize("kind", [str, pathlib.Path, lambda path: str(path).encode()])
def test_cafile_trusts_its_certificates(either, certs, verify_with, kind):
    ctx = client_ctx(either)
    assert ctx.load_verify_locations(kind(certs.ca)) is None
    assert verify_with(ctx) == "TLSv1.3"


def test_missing_cafile_raises_file_not_found(either, certs):
    with pytest.raises(FileNotFoundError) as info:
        client_ctx(either).load_verify_locations(str(certs.tmpdir / "no-such-ca.pem"))
    assert info.value.errno == errno.ENOENT


def test_missing_cafile_fails_even_with_good_cadata(either, certs):
    with pytest.raises(FileNotFoundError):
        client_ctx(either).load_verify_locations(
            str(certs.tmpdir / "no-such-ca.pem"), cadata=pem(certs.ca)
        )


@pytest.mark.parametrize("content", ["der", "key", "empty"])
def test_cafile_without_a_pem_certificate_raises_ssl_error(
    stdlib, certs, tmp_path, content
):
    path = tmp_path / "not-a-ca.pem"
    path.write_bytes(
        {
            "der": der_of(certs.ca),
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


def test_null_byte_in_a_path_raises_value_error(either, certs):
    with pytest.raises(ValueError) as info:
        client_ctx(either).load_verify_locations(certs.ca + "\0")
    assert info.value.args == ("embedded null byte",)


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


@pytest.mark.parametrize("kind", [str, pathlib.Path, lambda path: str(path).encode()])
def test_capath_trusts_the_hashed_certificates(either, capath, verify_with, kind):
    ctx = client_ctx(either)
    assert ctx.load_verify_locations(capath=kind(capath["trusting"])) is None
    assert verify_with(ctx) == "TLSv1.3"


def test_capath_without_the_issuer_fails_verification(either, capath, verify_with):
    ctx = client_ctx(either)
    ctx.load_verify_locations(capath=str(capath["other"]))
    failure = verify_with(ctx)
    assert type(failure) is either.SSLCertVerificationError
    assert failure.reason == "CERTIFICATE_VERIFY_FAILED"


def test_missing_capath_is_only_looked_at_during_verification(
    either, certs, verify_with
):
    ctx = client_ctx(either)
    assert (
        ctx.load_verify_locations(capath=str(certs.tmpdir / "no-such-directory"))
        is None
    )
    assert type(verify_with(ctx)) is either.SSLCertVerificationError


# ---- verification against a peer ----------------------------------------------


def test_trusting_the_right_ca_verifies_the_server(either, certs, verify_with):
    ctx = client_ctx(either)
    ctx.load_verify_locations(certs.ca)
    assert verify_with(ctx) == "TLSv1.3"


@pytest.mark.parametrize("trusted", ["other-ca", "nothing"])
def test_untrusted_server_fails_with_the_stdlibs_verify_error(
    stdlib, certs, verify_with, trusted
):
    failures = []
    for module in (pyssl, stdlib):
        ctx = client_ctx(module)
        if trusted == "other-ca":
            ctx.load_verify_locations(certs.other_ca)
        failure = verify_with(ctx)
        assert type(failure) is module.SSLCertVerificationError
        assert isinstance(failure, ValueError) and isinstance(failure, module.SSLError)
        failures.append(
            (
                failure.args[0],
                failure.library,
                failure.reason,
                failure.verify_code,
                failure.verify_message,
            )
        )
    assert failures[0] == failures[1]
    assert failures[0][2] == "CERTIFICATE_VERIFY_FAILED"


def test_server_sees_the_clients_unknown_ca_alert(handshake, certs, peer):
    ctx = client_ctx(peer)
    ctx.load_verify_locations(certs.other_ca)
    _client, server = handshake(server_context(pyssl, certs), ctx)
    assert type(server) is pyssl.SSLError
    assert (server.library, server.reason) == ("SSL", "TLSV1_ALERT_UNKNOWN_CA")


# ---- the default locations -------------------------------------------------------


@pytest.mark.parametrize("load", ["set_default_verify_paths", "load_default_certs"])
def test_default_locations_are_where_openssl_looks(
    either, certs, verify_with, default_ca_file, load
):
    default_ca_file(certs.ca)
    ctx = client_ctx(either)
    assert getattr(ctx, load)() is None
    assert verify_with(ctx) == "TLSv1.3"


def test_default_locations_without_the_issuer_trust_nothing_more(
    either, certs, verify_with, default_ca_file
):
    default_ca_file(certs.other_ca)
    ctx = client_ctx(either)
    ctx.load_default_certs()
    assert type(verify_with(ctx)) is either.SSLCertVerificationError


@pytest.mark.parametrize("purpose", ["SERVER_AUTH", "CLIENT_AUTH"])
def test_load_default_certs_takes_a_purpose(
    either, certs, verify_with, default_ca_file, purpose
):
    default_ca_file(certs.ca)
    ctx = client_ctx(either)
    assert ctx.load_default_certs(getattr(either.Purpose, purpose)) is None
    assert ctx.load_default_certs(purpose=either.Purpose.SERVER_AUTH) is None
    assert verify_with(ctx) == "TLSv1.3"


@pytest.mark.parametrize("purpose", [None, "1.3.6.1.5.5.7.3.1", 129, ("serverAuth",)])
def test_load_default_certs_refuses_what_is_not_a_purpose(either, purpose):
    with pytest.raises(TypeError) as info:
        client_ctx(either).load_default_certs(purpose)
    assert info.value.args == (purpose,)


def test_set_default_verify_paths_takes_no_argument(either):
    with pytest.raises(TypeError):
        client_ctx(either).set_default_verify_paths(either.Purpose.SERVER_AUTH)
