"""create_default_context() and the stdlib's private context factories
(_create_unverified_context, _create_default_https_context,
_create_stdlib_context): their settings, the CA certificates they load and
what that means against a real peer."""

from __future__ import annotations

import pathlib
import warnings

import pytest

import pyssl
from conftest import der_certificate, outcome

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


# ---- the private factories --------------------------------------------------------


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
