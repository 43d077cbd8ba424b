"""create_default_context() and the stdlib's private context factories
(_create_unverified_context, _create_default_https_context,
_create_stdlib_context): their settings, the CA certificates they load and
what that means against a real peer."""

from __future__ import annotations

import pathlib
import warnings

import pytest
from cert_files import der_certificate
from ssl_modules import outcome

import pyssl

SETTINGS = [
    "protocol",
    "verify_mode",
    "check_hostname",
    "options",
    "verify_flags",
    "minimum_version",
    "maximum_version",
    "post_handshake_auth",
    "hostname_checks_common_name",
    "security_level",
]


def settings(ctx):
    return [(name, getattr(ctx, name)) for name in SETTINGS]


# ---- create_default_context ------------------------------------------------------


@pytest.mark.parametrize("purpose", ["SERVER_AUTH", "CLIENT_AUTH"])
def test_default_context_settings_are_the_stdlibs(stdlib, certs, purpose):
    def created(module):
        return settings(
            module.create_default_context(
                getattr(module.Purpose, purpose), cafile=certs.ca
            )
        )

    assert outcome(created, pyssl) == outcome(created, stdlib)


def test_default_client_context_verifies(either):
    ctx = either.create_default_context()
    assert ctx.protocol is either.PROTOCOL_TLS_CLIENT
    assert ctx.verify_mode is either.CERT_REQUIRED
    assert ctx.check_hostname is True
    assert ctx.minimum_version is either.TLSVersion.TLSv1_2


def test_default_server_context_asks_no_certificate(either):
    ctx = either.create_default_context(either.Purpose.CLIENT_AUTH)
    assert ctx.protocol is either.PROTOCOL_TLS_SERVER
    assert ctx.verify_mode is either.CERT_NONE
    assert ctx.check_hostname is False


def test_default_client_context_trusts_the_system_cas(
    either, certs, verify_with, default_ca_file
):
    default_ca_file(certs.ca)
    assert verify_with(either.create_default_context()) == "TLSv1.3"


def test_default_client_context_trusts_nothing_else(
    either, certs, verify_with, default_ca_file
):
    default_ca_file(certs.other_ca)
    failure = verify_with(either.create_default_context())
    assert type(failure) is either.SSLCertVerificationError
    assert failure.reason == "CERTIFICATE_VERIFY_FAILED"


def test_default_client_context_checks_the_host_name(
    either, certs, verify_with, default_ca_file
):
    default_ca_file(certs.ca)
    failure = verify_with(
        either.create_default_context(), server_hostname="elsewhere.example"
    )
    assert type(failure) is either.SSLCertVerificationError
    assert (
        failure.verify_message
        == "Hostname mismatch, certificate is not valid for 'elsewhere.example'."
    )


@pytest.mark.parametrize("source", ["cafile", "cadata-pem", "cadata-der"])
def test_given_cas_replace_the_system_ones(
    either, certs, verify_with, default_ca_file, source
):
    default_ca_file(certs.other_ca)  # the system's CAs would not do
    text = pathlib.Path(certs.ca).read_text()
    given = {
        "cafile": {"cafile": certs.ca},
        "cadata-pem": {"cadata": text},
        "cadata-der": {"cadata": der_certificate(text)},
    }[source]
    assert verify_with(either.create_default_context(**given)) == "TLSv1.3"


def test_given_capath_replaces_the_system_cas(
    either, certs, verify_with, default_ca_file, tmp_path
):
    default_ca_file(certs.ca)  # would verify, if it were loaded
    failure = verify_with(either.create_default_context(capath=str(tmp_path)))
    assert type(failure) is either.SSLCertVerificationError


def test_server_context_with_a_cafile_verifies_client_certificates(
    handshake, certs, peer
):
    server = pyssl.create_default_context(pyssl.Purpose.CLIENT_AUTH, cafile=certs.ca)
    assert (
        server.verify_mode is pyssl.CERT_NONE
    )  # loading CAs asks for nothing by itself
    server.load_cert_chain(certs.server_chain)
    server.verify_mode = pyssl.CERT_REQUIRED
    client = peer.create_default_context(cafile=certs.ca)
    client.load_cert_chain(certs.client_chain)
    assert handshake(server, client) == ("TLSv1.3", "TLSv1.3")


def test_cafile_is_a_keyword_only_argument(either, certs):
    with pytest.raises(TypeError):
        either.create_default_context(either.Purpose.SERVER_AUTH, certs.ca)


@pytest.mark.parametrize("purpose", [None, "1.3.6.1.5.5.7.3.1", 129, "other-oid"])
def test_bad_purposes_raise_as_in_the_stdlib(stdlib, purpose):
    def created(module):
        value = (
            module._ASN1Object("1.3.6.1.5.5.7.3.3")
            if purpose == "other-oid"
            else purpose
        )
        return module.create_default_context(value)

    result = outcome(created, pyssl)
    assert result == outcome(created, stdlib)
    assert result[1] == ("ValueError" if purpose == "other-oid" else "TypeError")


def test_bad_purpose_is_the_exceptions_argument(either):
    with pytest.raises(TypeError) as info:
        either.create_default_context("serverAuth")
    assert info.value.args == ("serverAuth",)
    code_signing = either._ASN1Object("1.3.6.1.5.5.7.3.3")
    with pytest.raises(ValueError) as info:
        either.create_default_context(code_signing)
    assert info.value.args == (code_signing,)


def test_missing_cafile_raises_file_not_found(either, certs):
    with pytest.raises(FileNotFoundError):
        either.create_default_context(cafile=str(certs.tmpdir / "no-such-ca.pem"))


# ---- the private factories --------------------------------------------------------


def test_default_https_context_is_create_default_context(either):
    assert either._create_default_https_context is either.create_default_context


def test_stdlib_context_is_the_unverified_one(either):
    assert either._create_stdlib_context is either._create_unverified_context


UNVERIFIED_CASES = {
    "defaults": {},
    "client-protocol": {"protocol": "PROTOCOL_TLS_CLIENT"},
    "server-purpose": {"purpose": "CLIENT_AUTH"},
    "cert-required": {"cert_reqs": "CERT_REQUIRED"},
    "checked": {"cert_reqs": "CERT_REQUIRED", "check_hostname": True},
    "check-hostname-only": {"check_hostname": True},
    "cert-reqs-none": {"cert_reqs": None},
    "cafile": {"cert_reqs": "CERT_REQUIRED", "cafile": True},
}


@pytest.mark.parametrize("case", UNVERIFIED_CASES)
def test_unverified_context_settings_are_the_stdlibs(stdlib, certs, case):
    def created(module):
        arguments = {}
        for name, value in UNVERIFIED_CASES[case].items():
            if name == "cafile":
                value = certs.ca
            elif isinstance(value, str):
                value = (
                    getattr(module.Purpose, value)
                    if name == "purpose"
                    else getattr(module, value)
                )
            arguments[name] = value
        return settings(module._create_unverified_context(**arguments))

    assert outcome(created, pyssl) == outcome(created, stdlib)


def test_unverified_context_accepts_an_untrusted_server(either, verify_with):
    ctx = either._create_unverified_context()
    assert (ctx.verify_mode, ctx.check_hostname) == (either.CERT_NONE, False)
    assert verify_with(ctx, server_hostname="elsewhere.example") == "TLSv1.3"


def test_unverified_context_can_verify_on_request(either, certs, verify_with):
    ctx = either._create_unverified_context(
        cert_reqs=either.CERT_REQUIRED, check_hostname=True, cafile=certs.ca
    )
    assert verify_with(ctx) == "TLSv1.3"
    failure = verify_with(ctx, server_hostname="elsewhere.example")
    assert type(failure) is either.SSLCertVerificationError


def test_unverified_context_loads_a_certificate_chain(handshake, certs, either, peer):
    server = either._create_unverified_context(
        purpose=either.Purpose.CLIENT_AUTH, certfile=certs.server_chain
    )
    client = peer.create_default_context(cafile=certs.ca)
    assert handshake(server, client) == ("TLSv1.3", "TLSv1.3")


def test_unverified_context_wants_a_certfile_with_a_keyfile(either, certs):
    with pytest.raises(ValueError) as info:
        either._create_unverified_context(keyfile=certs.server_key)
    assert info.value.args == ("certfile must be specified",)


@pytest.mark.parametrize("purpose", [None, "1.3.6.1.5.5.7.3.1"])
def test_unverified_context_refuses_what_is_not_a_purpose(either, purpose):
    with pytest.raises(TypeError) as info:
        either._create_unverified_context(purpose=purpose)
    assert info.value.args == (purpose,)


def test_unverified_context_refuses_another_purpose(either):
    with pytest.raises(ValueError):
        either._create_unverified_context(
            purpose=either._ASN1Object("1.3.6.1.5.5.7.3.3")
        )


def test_unverified_context_with_protocol_tls_warns(either):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ctx = either._create_unverified_context(either.PROTOCOL_TLS)
    assert [(w.category, str(w.message)) for w in caught] == [
        (DeprecationWarning, "ssl.PROTOCOL_TLS is deprecated")
    ]
    # It names the line that made the context: one in the factory itself.
    assert caught[0].filename == either._create_unverified_context.__code__.co_filename
    assert ctx.protocol is either.PROTOCOL_TLS
