"""export_keying_material() and get_channel_binding("tls-exporter"): keying
material exporters (RFC 5705 for TLS 1.2, RFC 8446 7.5 for TLS 1.3) and the
RFC 9266 channel binding built on them, which pyssl adds to the stdlib's API.

An exporter is only right if both ends of a connection derive the same
bytes, so every value is checked against the other end: pyssl itself and
the ``openssl`` programs (``-keymatexport``), which derive it with their own
code path. The stdlib has no exporter to compare with."""

from __future__ import annotations

import re
import socket

import pytest
from openssl_cli import needs_openssl
from peers import BioPair, client_context, converse, server_context

import pyssl

VERSIONS = ["TLSv1_2", "TLSv1_3"]
LABEL = "EXPERIMENTAL-pyssl-tests"


def contexts(certs, version="TLSv1_3"):
    return (
        server_context(pyssl, certs),
        client_context(
            pyssl, certs, maximum_version=getattr(pyssl.TLSVersion, version)
        ),
    )


def pair(certs, version="TLSv1_3"):
    server_ctx, client_ctx = contexts(certs, version)
    return BioPair(client_ctx, server_ctx).handshake()


def exports(tls):
    """Exports varied by label, length and context, taken on one end, and
    the "tls-exporter" channel binding on TLS 1.3."""
    tls_1_3 = tls.version() == "TLSv1.3"
    return {
        "short": tls.export_keying_material(LABEL, 16),
        "long": tls.export_keying_material(LABEL, 100),
        "other label": tls.export_keying_material(LABEL + "-2", 16),
        "bytes label": tls.export_keying_material(LABEL.encode(), 16),
        "no context": tls.export_keying_material(LABEL, 16, None),
        "empty context": tls.export_keying_material(LABEL, 16, b""),
        "context": tls.export_keying_material(LABEL, 16, b"some context"),
        "bytearray context": tls.export_keying_material(
            LABEL, 16, bytearray(b"some context")
        ),
        "memoryview label": tls.export_keying_material(memoryview(LABEL.encode()), 16),
        "tls-exporter": tls.get_channel_binding("tls-exporter") if tls_1_3 else None,
        "version": tls.version(),
    }


# ---- both ends agree ---------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_both_ends_export_the_same_bytes(serve, certs, version):
    server_ctx, client_ctx = contexts(certs, version)
    server, client = converse(serve, server_ctx, client_ctx, exports)
    assert server == client
    assert client["version"] == version.replace("_", ".")
    assert len(client["short"]) == 16 and len(client["long"]) == 100
    assert type(client["short"]) is bytes
    # Label, context and length all enter the derivation...
    assert client["other label"] != client["short"]
    assert client["context"] != client["empty context"]
    # ... and the label and context may be any bytes-like object.
    assert client["bytes label"] == client["short"] == client["memoryview label"]
    assert client["bytearray context"] == client["context"]


@pytest.mark.parametrize("version, same", [("TLSv1_2", False), ("TLSv1_3", True)])
def test_empty_context_is_no_context_only_in_tls_1_3(certs, version, same):
    # RFC 5705 tells "no context" from an empty one; RFC 8446 7.5 makes
    # them the same.
    tls = pair(certs, version)
    for end in (tls.client, tls.server):
        none = end.export_keying_material(LABEL, 32)
        empty = end.export_keying_material(LABEL, 32, b"")
        assert (none == empty) is same


def test_every_connection_exports_its_own(certs):
    first, second = pair(certs), pair(certs)
    assert first.client.export_keying_material(
        LABEL, 32
    ) != second.client.export_keying_material(LABEL, 32)


@pytest.mark.parametrize("version", VERSIONS)
def test_tls_1_2_prf_output_is_a_stream_and_tls_1_3_hkdf_binds_the_length(
    certs, version
):
    # TLS 1.2's PRF gives a stream, so a shorter export is a prefix of a
    # longer one; TLS 1.3's HKDF-Expand-Label puts the length in the input.
    tls = pair(certs, version)
    short, long = (tls.client.export_keying_material(LABEL, n) for n in (16, 32))
    assert (long[:16] == short) is (version == "TLSv1_2")


def test_survives_a_key_update(certs):
    # The exporter secret belongs to the handshake, not the traffic keys.
    tls = pair(certs)
    before = tls.client.export_keying_material(LABEL, 32)
    tls.client.key_update(request_peer=True)
    assert tls.send(b"x") == b"x" and tls.send(b"y", to_server=False) == b"y"
    assert tls.client.export_keying_material(LABEL, 32) == before
    assert tls.server.export_keying_material(LABEL, 32) == before


# ---- against the openssl programs ----------------------------------------------------

_KEYING_MATERIAL = re.compile(rb"Keying material: ([0-9A-F]+)")


def keying_material(proc):
    """The hex keying material an openssl program printed."""
    line = proc.wait_for(b"Keying material:")
    return bytes.fromhex(_KEYING_MATERIAL.search(line).group(1).decode())


@needs_openssl
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "label, length", [(LABEL, 20), ("EXPORTER-Channel-Binding", 32)]
)
def test_pyssl_server_matches_openssl_s_client(
    serve, certs, openssl_client, version, label, length
):
    server_ctx = server_context(pyssl, certs)

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            exported = tls.export_keying_material(label, length)
            binding = (
                tls.get_channel_binding("tls-exporter")
                if tls.version() == "TLSv1.3"
                else None
            )
            tls.sendall(b"exported\n")
            assert tls.recv(10) == b""  # until s_client quits
            return tls.version(), exported, binding

    server = serve(handler)
    flag = "-tls1_3" if version == "TLSv1_3" else "-tls1_2"
    client = openssl_client(
        server.port, flag, "-keymatexport", label, "-keymatexportlen", str(length)
    )
    theirs = keying_material(client)
    client.wait_for(b"exported")
    client.send(b"Q\n")
    [(negotiated, ours, binding)] = server.join()
    assert negotiated == version.replace("_", ".")
    assert ours == theirs
    if label == "EXPORTER-Channel-Binding" and version == "TLSv1_3":
        assert binding == theirs  # RFC 9266, derived by openssl's own code


@needs_openssl
@pytest.mark.parametrize("version", VERSIONS)
def test_pyssl_client_matches_openssl_s_server(openssl_server, certs, version):
    proc, port = openssl_server("-keymatexport", LABEL, "-keymatexportlen", "24")
    ctx = client_context(
        pyssl, certs, maximum_version=getattr(pyssl.TLSVersion, version)
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            ours = tls.export_keying_material(LABEL, 24)
            theirs = keying_material(proc)
            assert tls.version() == version.replace("_", ".")
    assert ours == theirs


# ---- "tls-exporter" (RFC 9266) ----------------------------------------------------


def test_tls_exporter_is_32_bytes_exported_without_context(certs):
    tls = pair(certs)
    for end in (tls.client, tls.server):
        binding = end.get_channel_binding("tls-exporter")
        assert len(binding) == 32
        assert binding == end.export_keying_material("EXPORTER-Channel-Binding", 32)
    assert tls.client.get_channel_binding(
        "tls-exporter"
    ) == tls.server.get_channel_binding("tls-exporter")


def test_tls_exporter_on_tls_1_2_is_a_value_error(certs):
    # RFC 9266 defines it for TLS 1.3; over TLS 1.2 "tls-unique" is the
    # binding to use.
    tls = pair(certs, "TLSv1_2")
    for end in (tls.client, tls.server):
        with pytest.raises(ValueError) as info:
            end.get_channel_binding("tls-exporter")
        assert (
            str(info.value)
            == "'tls-exporter' channel binding is only defined for TLS 1.3"
        )
        assert len(end.get_channel_binding("tls-unique")) == 12


def test_tls_exporter_is_none_before_the_handshake(serve, certs):
    server_ctx, client_ctx = contexts(certs)
    (server_before, server_after), (client_before, client_after) = converse(
        serve,
        server_ctx,
        client_ctx,
        lambda tls: tls.get_channel_binding("tls-exporter"),
        probe_before_handshake=True,
    )
    assert server_before is None and client_before is None
    assert server_after == client_after and len(client_after) == 32


def test_tls_exporter_is_none_on_an_unconnected_socket(certs):
    with client_context(pyssl, certs).wrap_socket(
        socket.socket(), server_hostname="localhost"
    ) as tls:
        assert tls.get_channel_binding("tls-exporter") is None


# ---- before the handshake, and without a connection -----------------------------


def test_before_the_handshake_is_a_value_error(serve, certs):
    server_ctx, client_ctx = contexts(certs)

    def probe(tls):
        try:
            return tls.export_keying_material(LABEL, 16)
        except ValueError as exc:
            return str(exc)

    (server_before, server_after), (client_before, client_after) = converse(
        serve, server_ctx, client_ctx, probe, probe_before_handshake=True
    )
    assert server_before == client_before == "handshake not done yet"
    assert server_after == client_after and len(client_after) == 16


def test_sslobject_before_the_handshake_is_a_value_error(certs):
    server_ctx, client_ctx = contexts(certs)
    tls = BioPair(client_ctx, server_ctx)
    with pytest.raises(ValueError, match="^handshake not done yet$"):
        tls.client.export_keying_material(LABEL, 16)


def test_unconnected_socket_is_a_value_error(certs):
    with client_context(pyssl, certs).wrap_socket(
        socket.socket(), server_hostname="localhost"
    ) as tls:
        with pytest.raises(ValueError, match="^No SSL wrapper around "):
            tls.export_keying_material(LABEL, 16)


# ---- bad arguments -------------------------------------------------------------------

BAD_TYPES = [
    (
        (5, 16),
        "export_keying_material() argument 'label' must be str or a bytes-like object, not int",
    ),
    (
        (None, 16),
        "export_keying_material() argument 'label' must be str or a bytes-like object, not NoneType",
    ),
    (
        (LABEL, 16, "text"),
        "export_keying_material() argument 'context' must be a bytes-like object, not str",
    ),
    (
        (LABEL, 16, 7),
        "export_keying_material() argument 'context' must be a bytes-like object, not int",
    ),
    ((LABEL, 1.5), "'float' object cannot be interpreted as an integer"),
    ((LABEL, "16"), "'str' object cannot be interpreted as an integer"),
]


@pytest.mark.parametrize(
    "args, message",
    BAD_TYPES,
    ids=[m.split(" ")[-1] + str(i) for i, (_, m) in enumerate(BAD_TYPES)],
)
def test_wrong_types_are_type_errors(certs, args, message):
    tls = pair(certs)
    with pytest.raises(TypeError) as info:
        tls.client.export_keying_material(*args)
    assert str(info.value) == message


@pytest.mark.parametrize("length", [0, -1])
def test_length_must_be_positive(certs, length):
    tls = pair(certs)
    with pytest.raises(ValueError, match="^length must be a positive number of bytes$"):
        tls.client.export_keying_material(LABEL, length)


def test_non_ascii_label_is_a_unicode_encode_error(certs):
    tls = pair(certs)
    with pytest.raises(UnicodeEncodeError) as info:
        tls.client.export_keying_material("pyssl-tést", 16)
    assert info.value.encoding == "ascii"


@pytest.mark.parametrize("with_context", [False, True])
def test_tls_1_2_label_and_context_over_960_bytes_are_a_value_error(
    certs, with_context
):
    # The PRF input is the label, both randoms (64 bytes) and the context
    # with its 2-byte length; OpenSSL's PRF takes 1024 bytes.
    tls = pair(certs, "TLSv1_2")
    if with_context:
        fits, too_long = (
            (LABEL, b"c" * (958 - len(LABEL))),
            (LABEL, b"c" * (959 - len(LABEL))),
        )
    else:
        fits, too_long = ("x" * 960, None), ("x" * 961, None)
    assert len(tls.client.export_keying_material(fits[0], 16, fits[1])) == 16
    with pytest.raises(ValueError) as info:
        tls.client.export_keying_material(too_long[0], 16, too_long[1])
    assert str(info.value) == (
        "label and context too long for TLS 1.2: at most 960 bytes together, "
        "2 of them for a context's length"
    )


def test_tls_1_3_takes_a_context_of_any_length(certs):
    # RFC 8446 7.5 hashes the context: its length is not bounded.
    tls = pair(certs)
    big = bytes(range(256)) * 4096
    assert tls.client.export_keying_material(
        LABEL, 16, big
    ) == tls.server.export_keying_material(LABEL, 16, big)


def test_tls_1_3_length_is_bounded_by_the_hash(certs):
    # HKDF-Expand-Label: at most 255 hash lengths (TLS_AES_256_GCM_SHA384
    # here, the first TLS 1.3 suite OpenSSL prefers: 48-byte hashes).
    tls = pair(certs)
    assert tls.client.cipher()[0] == "TLS_AES_256_GCM_SHA384"
    assert len(tls.client.export_keying_material(LABEL, 255 * 48)) == 255 * 48
    with pytest.raises(
        ValueError, match="^TLS 1.3 exports at most 12240 bytes with this cipher suite$"
    ):
        tls.client.export_keying_material(LABEL, 255 * 48 + 1)


@pytest.mark.parametrize(
    "label", ["client finished", "server finished", "master secret", "key expansion"]
)
def test_tls_1_2_reserved_labels_are_ssl_errors(certs, label):
    # RFC 5705 4: the labels TLS 1.2 itself uses cannot be exported.
    tls = pair(certs, "TLSv1_2")
    with pytest.raises(pyssl.SSLError) as info:
        tls.client.export_keying_material(label, 16)
    assert info.value.library == "SSL"
    assert info.value.reason == "TLS_ILLEGAL_EXPORTER_LABEL"


def test_tls_1_3_label_over_249_bytes_is_an_ssl_error(certs):
    # RFC 8446 7.1: "tls13 " and the label fit in 255 bytes.
    tls = pair(certs)
    assert len(tls.client.export_keying_material("x" * 249, 16)) == 16
    with pytest.raises(pyssl.SSLError) as info:
        tls.client.export_keying_material("x" * 250, 16)
    assert (info.value.library, info.value.reason) == (
        "SSL",
        "TLS_ILLEGAL_EXPORTER_LABEL",
    )
    # The failure leaves nothing behind for the next call.
    assert len(tls.client.export_keying_material(LABEL, 16)) == 16
