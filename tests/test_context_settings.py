"""SSLContext settings: the constructor, options, verification settings,
protocol versions, and the module's constants and enums, as the stdlib has
them; where a setting changes a handshake, a real peer shows it."""

from __future__ import annotations

import ast
import enum
import inspect
import subprocess
import sys
import warnings

import pytest
from openssl_cli import OPENSSL
from ssl_modules import outcome

import pyssl

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


@pytest.mark.parametrize("protocol", CONTEXT_PROTOCOLS)
def test_context_protocol_is_the_one_given(either, protocol):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ctx = either.SSLContext(getattr(either, protocol))
    assert ctx.protocol is getattr(either, protocol)
    assert type(ctx.protocol) is either._SSLMethod


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


def test_protocol_is_read_only(either):
    ctx = new_context(either)
    with pytest.raises(AttributeError):
        ctx.protocol = either.PROTOCOL_TLS_SERVER


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


@pytest.mark.parametrize("protocol", CONTEXT_PROTOCOLS + DEPRECATED_PROTOCOLS)
def test_defaults_are_the_stdlibs(stdlib, protocol):
    def settings(module):
        ctx = new_context(module, protocol)
        return [(name, getattr(ctx, name)) for name in SETTINGS]

    assert outcome(settings, pyssl) == outcome(settings, stdlib)


def test_client_defaults_verify_the_server(either):
    ctx = new_context(either, "PROTOCOL_TLS_CLIENT")
    assert ctx.verify_mode is either.CERT_REQUIRED
    assert ctx.check_hostname is True
    assert ctx.minimum_version is either.TLSVersion.TLSv1_2
    assert ctx.maximum_version is either.TLSVersion.MAXIMUM_SUPPORTED


def test_server_defaults_ask_no_certificate(either):
    ctx = new_context(either, "PROTOCOL_TLS_SERVER")
    assert ctx.verify_mode is either.CERT_NONE
    assert ctx.check_hostname is False
    assert ctx.minimum_version is either.TLSVersion.TLSv1_2


@pytest.mark.parametrize("protocol", CONTEXT_PROTOCOLS)
def test_default_options_are_the_documented_ones(either, protocol):
    options = new_context(either, protocol).options
    assert type(options) is either.Options
    documented = (
        either.OP_ALL
        | either.OP_NO_SSLv2
        | either.OP_NO_SSLv3
        | either.OP_NO_COMPRESSION
        | either.OP_CIPHER_SERVER_PREFERENCE
        | either.OP_SINGLE_DH_USE
        | either.OP_SINGLE_ECDH_USE
    )
    assert options & documented == documented


# ---- options ------------------------------------------------------------------------


def test_options_set_and_clear_single_flags(either):
    ctx = new_context(either)
    assert not ctx.options & either.OP_NO_TICKET
    ctx.options |= either.OP_NO_TICKET
    assert ctx.options & either.OP_NO_TICKET
    ctx.options &= ~either.OP_NO_COMPRESSION
    assert not ctx.options & either.OP_NO_COMPRESSION
    assert ctx.options & either.OP_NO_TICKET


def test_options_assignment_replaces_every_flag(either):
    ctx = new_context(either)
    ctx.options = either.OP_NO_TICKET | either.OP_NO_RENEGOTIATION
    assert ctx.options == either.OP_NO_TICKET | either.OP_NO_RENEGOTIATION
    assert type(ctx.options) is either.Options
    ctx.options = 0
    assert ctx.options == 0


@pytest.mark.parametrize(
    "flag",
    ["OP_NO_SSLv3", "OP_NO_TLSv1", "OP_NO_TLSv1_1", "OP_NO_TLSv1_2", "OP_NO_TLSv1_3"],
)
def test_setting_a_protocol_option_is_deprecated(either, flag):
    ctx = new_context(either)
    ctx.options &= ~getattr(either, flag)  # so that the flag is newly set below
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = call_line()
        ctx.options |= getattr(either, flag)
    assert [(w.category, str(w.message), w.filename, w.lineno) for w in caught] == [
        (
            DeprecationWarning,
            "ssl.OP_NO_SSL*/ssl.OP_NO_TLS* options are deprecated",
            __file__,
            line,
        )
    ]
    assert ctx.options & getattr(either, flag)


def test_other_options_and_clearing_give_no_warning(either):
    ctx = new_context(either)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ctx.options |= either.OP_NO_TICKET | either.OP_NO_RENEGOTIATION
        ctx.options &= ~(either.OP_NO_SSLv3 | either.OP_NO_TICKET)
    assert not ctx.options & either.OP_NO_SSLv3


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


@pytest.mark.parametrize("mode", ["CERT_NONE", "CERT_OPTIONAL", "CERT_REQUIRED"])
def test_verify_mode_takes_each_value(either, mode):
    ctx = new_context(either, "PROTOCOL_TLS_SERVER")
    ctx.verify_mode = getattr(either, mode)
    assert ctx.verify_mode is getattr(either, mode)
    ctx.verify_mode = int(getattr(either, mode))
    assert ctx.verify_mode is getattr(either, mode)


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


def test_cert_none_is_refused_while_check_hostname_is_on(either):
    ctx = new_context(either)
    with pytest.raises(ValueError) as info:
        ctx.verify_mode = either.CERT_NONE
    assert info.value.args == (
        "Cannot set verify_mode to CERT_NONE when check_hostname is enabled.",
    )
    assert ctx.verify_mode is either.CERT_REQUIRED
    ctx.check_hostname = False
    ctx.verify_mode = either.CERT_NONE
    assert ctx.verify_mode is either.CERT_NONE


def test_check_hostname_turns_cert_none_into_cert_required(either):
    ctx = new_context(either, "PROTOCOL_TLS_SERVER")
    assert ctx.verify_mode is either.CERT_NONE
    ctx.check_hostname = True
    assert ctx.verify_mode is either.CERT_REQUIRED


def test_check_hostname_keeps_cert_optional(either):
    ctx = new_context(either, "PROTOCOL_TLS_SERVER")
    ctx.verify_mode = either.CERT_OPTIONAL
    ctx.check_hostname = True
    assert ctx.verify_mode is either.CERT_OPTIONAL


@pytest.mark.parametrize(
    "value, expected",
    [("yes", True), (1, True), (0, False), ("", False), (None, False)],
)
def test_check_hostname_takes_any_truth_value(either, value, expected):
    ctx = new_context(either, "PROTOCOL_TLS_SERVER")
    ctx.check_hostname = value
    assert ctx.check_hostname is expected


def test_check_hostname_propagates_a_failing_truth_test(either):
    class Undecided:
        def __bool__(self):
            raise ZeroDivisionError("no truth")

    ctx = new_context(either, "PROTOCOL_TLS_SERVER")
    with pytest.raises(ZeroDivisionError):
        ctx.check_hostname = Undecided()
    assert ctx.check_hostname is False


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


def test_protocol_version_bounds_are_tls_versions(either):
    ctx = new_context(either)
    ctx.minimum_version = either.TLSVersion.TLSv1_3
    ctx.maximum_version = int(either.TLSVersion.TLSv1_3)
    assert ctx.minimum_version is either.TLSVersion.TLSv1_3
    assert ctx.maximum_version is either.TLSVersion.TLSv1_3


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


@pytest.mark.parametrize("attribute", ["minimum_version", "maximum_version"])
def test_fixed_version_context_refuses_version_bounds(either, attribute):
    ctx = new_context(either, "PROTOCOL_TLSv1_2")
    with pytest.raises(ValueError) as info:
        setattr(ctx, attribute, either.TLSVersion.TLSv1_2)
    assert info.value.args == (
        "The context's protocol doesn't support modification of highest and lowest version.",
    )
    assert ctx.minimum_version is either.TLSVersion.MINIMUM_SUPPORTED
    assert ctx.maximum_version is either.TLSVersion.MAXIMUM_SUPPORTED


@pytest.mark.parametrize("attribute", ["minimum_version", "maximum_version"])
@pytest.mark.parametrize("version", ["SSLv3", "TLSv1", "TLSv1_1"])
def test_old_protocol_versions_are_deprecated(stdlib, attribute, version):
    def assign(module):
        ctx = new_context(module)
        setattr(ctx, attribute, getattr(module.TLSVersion, version))
        return (
            ctx.minimum_version,
            ctx.maximum_version,
            ctx.options & module.OP_NO_SSLv3,
        )

    result = outcome(assign, pyssl)
    assert result == outcome(assign, stdlib)
    [(category, message, filename, _)] = result[-1]
    assert (category, message, filename) == (
        "DeprecationWarning",
        f"ssl.TLSVersion.{version} is deprecated",
        __file__,
    )


def test_allowing_sslv3_clears_op_no_sslv3_before_any_check(stdlib):
    def allow_sslv3(module):
        ctx = new_context(module, "PROTOCOL_TLSv1_2")
        with pytest.raises(ValueError):
            ctx.minimum_version = module.TLSVersion.SSLv3
        return ctx.options & module.OP_NO_SSLv3

    assert outcome(allow_sslv3, pyssl) == outcome(allow_sslv3, stdlib)


def test_allowing_sslv3_clears_op_no_sslv3(either):
    ctx = new_context(either)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = either.TLSVersion.SSLv3
    assert not ctx.options & either.OP_NO_SSLv3


@pytest.mark.parametrize(
    "client_bound, server_bound",
    [
        (("maximum_version", "TLSv1_2"), ("minimum_version", "TLSv1_3")),
        (("minimum_version", "TLSv1_3"), ("maximum_version", "TLSv1_2")),
    ],
    ids=["client-max-1.2-server-min-1.3", "client-min-1.3-server-max-1.2"],
)
@pytest.mark.parametrize("pyssl_side", ["client", "server"])
def test_disjoint_version_ranges_fail_the_handshake(
    handshake, certs, either, peer, client_bound, server_bound, pyssl_side
):
    client_module, server_module = (
        (either, peer) if pyssl_side == "client" else (peer, either)
    )
    client_ctx = new_context(client_module)
    client_ctx.load_verify_locations(certs.ca)
    setattr(
        client_ctx, client_bound[0], getattr(client_module.TLSVersion, client_bound[1])
    )
    server_ctx = new_context(server_module, "PROTOCOL_TLS_SERVER")
    server_ctx.load_cert_chain(certs.server_chain)
    setattr(
        server_ctx, server_bound[0], getattr(server_module.TLSVersion, server_bound[1])
    )

    client, server = handshake(server_ctx, client_ctx)

    assert type(client) is client_module.SSLError
    assert (client.library, client.reason, client.args[0]) == (
        "SSL",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        1,
    )
    assert type(server) is server_module.SSLError
    assert (server.library, server.reason, server.args[0]) == (
        "SSL",
        "UNSUPPORTED_PROTOCOL",
        1,
    )


@pytest.mark.parametrize(
    "bound, expected", [("maximum_version", "TLSv1.2"), ("minimum_version", "TLSv1.3")]
)
def test_version_bounds_pick_the_negotiated_version(
    handshake, certs, peer, bound, expected
):
    server_ctx = new_context(pyssl, "PROTOCOL_TLS_SERVER")
    server_ctx.load_cert_chain(certs.server_chain)
    setattr(server_ctx, bound, getattr(pyssl.TLSVersion, expected.replace(".", "_")))
    client_ctx = new_context(peer)
    client_ctx.load_verify_locations(certs.ca)
    assert handshake(server_ctx, client_ctx) == (expected, expected)


# ---- verify_flags -------------------------------------------------------------------


def test_verify_flags_set_and_clear(either):
    ctx = new_context(either)
    assert ctx.verify_flags == either.VERIFY_X509_TRUSTED_FIRST
    assert type(ctx.verify_flags) is either.VerifyFlags
    ctx.verify_flags |= either.VERIFY_CRL_CHECK_LEAF | either.VERIFY_X509_STRICT
    assert ctx.verify_flags == (
        either.VERIFY_X509_TRUSTED_FIRST
        | either.VERIFY_CRL_CHECK_LEAF
        | either.VERIFY_X509_STRICT
    )
    ctx.verify_flags &= ~either.VERIFY_X509_TRUSTED_FIRST
    assert ctx.verify_flags == either.VERIFY_CRL_CHECK_LEAF | either.VERIFY_X509_STRICT
    ctx.verify_flags = either.VERIFY_DEFAULT
    assert ctx.verify_flags == 0


@pytest.mark.parametrize(
    "value", [-1, 2**64, 2**64 + 5, 1.0, None, "x", True, 0x10000000]
)
def test_verify_flags_values_are_taken_as_by_the_stdlib(stdlib, value):
    assert outcome(assigning("verify_flags", value), pyssl) == outcome(
        assigning("verify_flags", value), stdlib
    )


def test_crl_check_without_a_crl_fails_verification(handshake, certs, either):
    server_ctx = new_context(pyssl, "PROTOCOL_TLS_SERVER")
    server_ctx.load_cert_chain(certs.server_chain)
    client_ctx = new_context(either)
    client_ctx.load_verify_locations(certs.ca)
    client_ctx.verify_flags |= either.VERIFY_CRL_CHECK_LEAF

    client, _server = handshake(server_ctx, client_ctx)

    assert type(client) is either.SSLCertVerificationError
    assert (client.reason, client.verify_message) == (
        "CERTIFICATE_VERIFY_FAILED",
        "unable to get certificate CRL",
    )


# ---- post_handshake_auth, security_level -------------------------------------------


@pytest.mark.parametrize("protocol", CONTEXT_PROTOCOLS)
def test_post_handshake_auth_is_a_flag_off_by_default(either, protocol):
    ctx = new_context(either, protocol)
    assert ctx.post_handshake_auth is False
    ctx.post_handshake_auth = True
    assert ctx.post_handshake_auth is True
    ctx.post_handshake_auth = 0
    assert ctx.post_handshake_auth is False
    ctx.post_handshake_auth = "yes"
    assert ctx.post_handshake_auth is True


@pytest.mark.parametrize(
    "ciphers",
    [None, "DEFAULT:@SECLEVEL=1", "@SECLEVEL=3:ECDHE+AESGCM", "ALL:@SECLEVEL=0"],
)
def test_security_level_follows_the_cipher_string(stdlib, ciphers):
    def level(module):
        ctx = new_context(module)
        if ciphers is not None:
            ctx.set_ciphers(ciphers)
        return ctx.security_level

    result = outcome(level, pyssl)
    assert result == outcome(level, stdlib)
    if ciphers is not None:
        assert result[1] == repr(int(ciphers.split("@SECLEVEL=")[1][0]))


def test_security_level_is_read_only(either):
    ctx = new_context(either)
    with pytest.raises(AttributeError):
        ctx.security_level = 1


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


def test_hostname_checks_common_name_defaults_on_and_toggles(either):
    ctx = new_context(either)
    assert ctx.hostname_checks_common_name is True
    ctx.hostname_checks_common_name = False
    assert ctx.hostname_checks_common_name is False
    ctx.hostname_checks_common_name = 1
    assert ctx.hostname_checks_common_name is True


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


@pytest.mark.parametrize("checks_common_name", [True, False])
def test_common_name_matches_only_while_checked(
    handshake, either, common_name_only, checks_common_name
):
    client, server = common_name_handshake(
        handshake, either, common_name_only, checks_common_name
    )
    if checks_common_name:
        assert (client, server) == ("TLSv1.3", "TLSv1.3")
    else:
        assert type(client) is either.SSLCertVerificationError
        assert client.reason == "CERTIFICATE_VERIFY_FAILED"
        assert (
            client.verify_message
            == "Hostname mismatch, certificate is not valid for 'localhost'."
        )
        assert type(server) is pyssl.SSLError
        assert server.reason == "SSLV3_ALERT_BAD_CERTIFICATE"


def test_common_name_mismatch_has_the_stdlibs_verify_code(
    handshake, stdlib, common_name_only
):
    codes = []
    for module in (pyssl, stdlib):
        client, _server = common_name_handshake(
            handshake, module, common_name_only, False
        )
        codes.append((type(client).__name__, client.verify_code, client.args[0]))
    assert codes[0] == codes[1]


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


def test_the_constants_declared_for_type_checkers_are_the_ones_made_at_import():
    """_enums makes most constants with _convert_, which type checkers cannot
    follow: its ``if TYPE_CHECKING:`` block declares them, all and only them
    (on this Python)."""
    from pyssl import _enums

    tree = ast.parse(inspect.getsource(_enums))
    declared: set[str] = set()

    def collect(body):
        for node in body:
            if isinstance(node, ast.AnnAssign):
                declared.add(node.target.id)
            elif isinstance(node, ast.If) and eval(
                ast.unparse(node.test), {"sys": sys}
            ):
                collect(node.body)

    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    collect(block.body)
    assigned = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    made = constants(_enums, tuple(CONSTANT_FAMILIES)).keys() - assigned
    assert declared == made


def test_feature_flags_are_the_stdlibs(stdlib):
    # pyssl really negotiates NPN where OpenSSL supports it: its HAS_NPN is
    # true where the stdlib's is false.
    theirs = {
        name: value
        for name, value in constants(stdlib, "HAS_").items()
        if name != "HAS_NPN"
    }
    assert {name: getattr(pyssl, name, "missing") for name in theirs} == theirs


def test_feature_flags_are_booleans():
    flags = constants(pyssl, "HAS_")
    assert flags and all(type(value) is bool for value in flags.values())
    assert flags["HAS_SNI"] and flags["HAS_ALPN"] and flags["HAS_TLSv1_2"]


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


def test_tls_version_members_are_openssls_numbers(stdlib):
    assert {m.name: m.value for m in pyssl.TLSVersion} == {
        m.name: m.value for m in stdlib.TLSVersion
    }


def test_channel_binding_types_and_default_ciphers_are_the_stdlibs(stdlib):
    assert pyssl.CHANNEL_BINDING_TYPES == stdlib.CHANNEL_BINDING_TYPES == ["tls-unique"]
    assert pyssl._DEFAULT_CIPHERS == stdlib._DEFAULT_CIPHERS


def test_openssl_version_is_the_stdlibs_when_both_use_one_library(stdlib):
    if pyssl.OPENSSL_VERSION_NUMBER != stdlib.OPENSSL_VERSION_NUMBER:
        pytest.skip(
            f"the stdlib runs on {stdlib.OPENSSL_VERSION}, pyssl on {pyssl.OPENSSL_VERSION}"
        )
    assert pyssl.OPENSSL_VERSION == stdlib.OPENSSL_VERSION
    assert pyssl.OPENSSL_VERSION_INFO == stdlib.OPENSSL_VERSION_INFO


def test_openssl_version_info_agrees_with_the_version_string():
    major, minor, _fix, patch, _status = pyssl.OPENSSL_VERSION_INFO
    assert pyssl.OPENSSL_VERSION.startswith(f"OpenSSL {major}.{minor}.{patch}")
    assert type(pyssl.OPENSSL_VERSION_NUMBER) is int
    assert pyssl.OPENSSL_VERSION_NUMBER >> 28 == major
