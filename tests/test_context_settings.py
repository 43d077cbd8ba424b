"""SSLContext settings: the constructor, options, verification settings,
protocol versions, and the module's constants and enums, as the stdlib has
them; where a setting changes a handshake, a real peer shows it."""

from __future__ import annotations

import enum
import inspect
import subprocess
import sys
import warnings

import pytest

import pyssl
from conftest import OPENSSL, outcome

CONTEXT_PROTOCOLS = ["PROTOCOL_TLS_CLIENT", "PROTOCOL_TLS_SERVER"]
# Deprecated, but still accepted (with a warning) by the stdlib.
DEPRECATED_PROTOCOLS = [
    "PROTOCOL_TLS",
    "PROTOCOL_TLSv1",
    "PROTOCOL_TLSv1_1",
    "PROTOCOL_TLSv1_2",
]


def new_context(module, protocol="PROTOCOL_TLS_CLIENT"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return module.SSLContext(getattr(module, protocol))


def assigning(attribute, value, protocol="PROTOCOL_TLS_CLIENT"):
    """An action for outcome(): set ``attribute`` on a new context and
    return the value read back."""

    def action(module):
        ctx = new_context(module, protocol)
        setattr(ctx, attribute, value)
        return getattr(ctx, attribute)

    return action


def call_line():
    """The line after the caller's: where a warning must point."""
    return inspect.currentframe().f_back.f_lineno + 1


# ---- the constructor -------------------------------------------------------------


@pytest.mark.parametrize("protocol", DEPRECATED_PROTOCOLS)
def test_deprecated_protocol_warns_at_the_callers_line(either, protocol):
    value = getattr(either, protocol)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = call_line()
        ctx = either.SSLContext(value)
    assert [(w.category, str(w.message)) for w in caught] == [
        (DeprecationWarning, f"ssl.{protocol} is deprecated")
    ]
    assert (caught[0].filename, caught[0].lineno) == (__file__, line)
    assert ctx.protocol is value


def test_no_protocol_argument_warns_twice_and_means_protocol_tls(either):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = call_line()
        ctx = either.SSLContext()
    assert [(w.category, str(w.message), w.filename, w.lineno) for w in caught] == [
        (
            DeprecationWarning,
            "ssl.SSLContext() without protocol argument is deprecated.",
            __file__,
            line,
        ),
        (DeprecationWarning, "ssl.PROTOCOL_TLS is deprecated", __file__, line),
    ]
    assert ctx.protocol is either.PROTOCOL_TLS


@pytest.mark.parametrize("value", [42, -1, 0, 1, 6, 0x12, True])
def test_invalid_protocol_raises_value_error(either, value):
    with pytest.raises(ValueError) as info:
        either.SSLContext(value)
    assert info.value.args == (f"invalid or unsupported protocol version {int(value)}",)


@pytest.mark.parametrize(
    "value", ["PROTOCOL_TLS_CLIENT", 16.0, b"\x10", 2**40, -(2**70)]
)
def test_protocol_of_a_wrong_type_or_size_fails_as_in_the_stdlib(stdlib, value):
    result = outcome(lambda module: module.SSLContext(value), pyssl)
    assert result == outcome(lambda module: module.SSLContext(value), stdlib)
    assert result[1] in ("TypeError", "OverflowError")


# ---- defaults per protocol ----------------------------------------------------------

SETTINGS = [
    "protocol",
    "options",
    "verify_mode",
    "check_hostname",
    "minimum_version",
    "maximum_version",
    "verify_flags",
    "post_handshake_auth",
    "security_level",
    "hostname_checks_common_name",
]


# ---- options ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["x", 1.0, None, b"\x01", 2**64, 2**63, 2**64 - 1, True]
)
def test_options_of_a_wrong_type_or_size_fail_as_in_the_stdlib(stdlib, value):
    assert outcome(assigning("options", value), pyssl) == outcome(
        assigning("options", value), stdlib
    )


def test_negative_options_are_taken_as_the_stdlib_takes_them(stdlib):
    result = outcome(assigning("options", -1), pyssl)
    if sys.version_info >= (3, 12):
        # An unsigned 64-bit number since 3.12.
        assert result == outcome(assigning("options", -1), stdlib)
        assert result[1] == "OverflowError"
    else:
        # A C long before: accepted (what 3.10 and 3.11 read back differs).
        assert result[0] == outcome(assigning("options", -1), stdlib)[0] == "returned"


# ---- verify_mode and check_hostname ----------------------------------------------


@pytest.mark.parametrize("value", [3, -1, 2**31])
def test_verify_mode_out_of_range_raises_value_error_or_overflow(stdlib, value):
    result = outcome(assigning("verify_mode", value, "PROTOCOL_TLS_SERVER"), pyssl)
    assert result == outcome(
        assigning("verify_mode", value, "PROTOCOL_TLS_SERVER"), stdlib
    )
    assert result[1] == ("ValueError" if value in (3, -1) else "OverflowError")


@pytest.mark.parametrize("value", [None, "CERT_NONE", 1.0, 2**70])
def test_verify_mode_of_a_wrong_type_or_size_fails_as_in_the_stdlib(stdlib, value):
    action = assigning("verify_mode", value, "PROTOCOL_TLS_SERVER")
    assert outcome(action, pyssl) == outcome(action, stdlib)


# ---- protocol versions ------------------------------------------------------------


@pytest.mark.parametrize("attribute", ["minimum_version", "maximum_version"])
@pytest.mark.parametrize(
    "version", ["TLSv1_2", "TLSv1_3", "MINIMUM_SUPPORTED", "MAXIMUM_SUPPORTED"]
)
def test_protocol_version_bounds_read_back_as_the_stdlibs(stdlib, attribute, version):
    def assign(module):
        ctx = new_context(module)
        setattr(ctx, attribute, getattr(module.TLSVersion, version))
        return ctx.minimum_version, ctx.maximum_version

    assert outcome(assign, pyssl) == outcome(assign, stdlib)


@pytest.mark.parametrize("attribute", ["minimum_version", "maximum_version"])
@pytest.mark.parametrize("value", [42, 0x0305, 0x0200, 0, -3, -(2**40)])
def test_unknown_protocol_version_raises_value_error(stdlib, attribute, value):
    result = outcome(assigning(attribute, value), pyssl)
    assert result == outcome(assigning(attribute, value), stdlib)
    assert result[1] == "ValueError"
    assert result[2] == (f"Unsupported TLS/SSL version 0x{value & 0xFFFFFFFF:x}",)


@pytest.mark.parametrize("attribute", ["minimum_version", "maximum_version"])
@pytest.mark.parametrize("value", ["TLSv1_2", 771.0, None, 2**31, 2**70])
def test_protocol_version_of_a_wrong_type_or_size_fails_as_in_the_stdlib(
    stdlib, attribute, value
):
    result = outcome(assigning(attribute, value), pyssl)
    assert result == outcome(assigning(attribute, value), stdlib)
    assert result[1] in ("TypeError", "OverflowError")


def test_allowing_sslv3_clears_op_no_sslv3_before_any_check(stdlib):
    def allow_sslv3(module):
        ctx = new_context(module, "PROTOCOL_TLSv1_2")
        with pytest.raises(ValueError):
            ctx.minimum_version = module.TLSVersion.SSLv3
        return ctx.options & module.OP_NO_SSLv3

    assert outcome(allow_sslv3, pyssl) == outcome(allow_sslv3, stdlib)


# ---- verify_flags -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [-1, 2**64, 2**64 + 5, 1.0, None, "x", True, 0x10000000]
)
def test_verify_flags_values_are_taken_as_by_the_stdlib(stdlib, value):
    assert outcome(assigning("verify_flags", value), pyssl) == outcome(
        assigning("verify_flags", value), stdlib
    )


# ---- post_handshake_auth, security_level -------------------------------------------


# ---- hostname_checks_common_name ---------------------------------------------------


@pytest.fixture(scope="module")
def common_name_only(tmp_path_factory):
    """A CA and a server certificate for localhost that names it in its
    subject common name only, with no subjectAltName."""
    if OPENSSL is None:
        pytest.skip("the openssl program is not installed")
    import trustme

    base = tmp_path_factory.mktemp("cn-only")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(base / "ca.pem"))
    ca.private_key_pem.write_to_path(str(base / "ca-key.pem"))
    (base / "ext.cnf").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )

    def openssl(command):
        subprocess.run(
            [OPENSSL, *command.split()], cwd=base, check=True, capture_output=True
        )

    openssl(
        "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem"
        " -subj /CN=localhost -out cert.csr"
    )
    openssl(
        "x509 -req -in cert.csr -CA ca.pem -CAkey ca-key.pem -set_serial 1 -days 2"
        " -extfile ext.cnf -out cert.pem"
    )
    text = subprocess.run(
        [OPENSSL, "x509", "-in", "cert.pem", "-noout", "-text"],
        cwd=base,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "Subject: CN = localhost" in text and "Alternative Name" not in text
    return base


def common_name_handshake(
    handshake, client_module, certificate_dir, checks_common_name
):
    """A handshake with a pyssl server presenting the common-name-only
    certificate to a ``client_module`` client."""
    server_ctx = new_context(pyssl, "PROTOCOL_TLS_SERVER")
    server_ctx.load_cert_chain(
        str(certificate_dir / "cert.pem"), str(certificate_dir / "key.pem")
    )
    client_ctx = new_context(client_module)
    client_ctx.load_verify_locations(str(certificate_dir / "ca.pem"))
    client_ctx.hostname_checks_common_name = checks_common_name
    return handshake(server_ctx, client_ctx)


# ---- module constants and enums --------------------------------------------------

CONSTANT_FAMILIES = [
    "OP_",
    "VERIFY_",
    "CERT_",
    "PROTOCOL_",
    "ALERT_DESCRIPTION_",
    "SSL_ERROR_",
]


def constants(module, prefix):
    return {
        name: getattr(module, name) for name in dir(module) if name.startswith(prefix)
    }


@pytest.mark.parametrize("prefix", CONSTANT_FAMILIES)
def test_constant_family_is_the_stdlibs(stdlib, prefix):
    ours, theirs = constants(pyssl, prefix), constants(stdlib, prefix)
    assert sorted(ours) == sorted(theirs)
    for name, value in theirs.items():
        assert ours[name] == value, name
        assert type(ours[name]).__name__ == type(value).__name__, name
        assert (repr(ours[name]), str(ours[name])) == (repr(value), str(value)), name


ENUMS = [
    "TLSVersion",
    "Options",
    "VerifyMode",
    "VerifyFlags",
    "AlertDescription",
    "SSLErrorNumber",
    "_SSLMethod",
    "Purpose",
]


@pytest.mark.parametrize("name", ENUMS)
def test_enum_members_reprs_and_strs_are_the_stdlibs(stdlib, name):
    ours, theirs = getattr(pyssl, name), getattr(stdlib, name)
    assert issubclass(ours, enum.Enum)
    assert list(ours.__members__) == list(theirs.__members__)
    assert [member.name for member in ours] == [member.name for member in theirs]
    for member_name, member in theirs.__members__.items():
        mine = ours.__members__[member_name]
        assert mine.value == member.value
        assert (repr(mine), str(mine), format(mine), f"{mine!s:>40}") == (
            repr(member),
            str(member),
            format(member),
            f"{member!s:>40}",
        )


@pytest.mark.parametrize(
    "name, combination",
    [
        ("Options", ["OP_ALL", "OP_NO_TICKET", "OP_NO_TLSv1"]),
        ("Options", []),
        ("VerifyFlags", ["VERIFY_CRL_CHECK_CHAIN", "VERIFY_X509_STRICT"]),
        ("VerifyFlags", []),
    ],
)
def test_flag_combinations_print_as_the_stdlibs(stdlib, name, combination):
    def combined(module):
        value = getattr(module, name)(0)
        for member in combination:
            value |= getattr(module, member)
        return value, str(value), ~value

    assert outcome(combined, pyssl) == outcome(combined, stdlib)
