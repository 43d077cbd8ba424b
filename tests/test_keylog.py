"""SSLContext.keylog_filename and the SSLKEYLOGFILE environment variable.

The key log is in the NSS format Wireshark reads: one line per secret,
``<label> <client random> <secret>`` in hex. That the secrets are the
connection's own is proved without a packet capture: the client random is
the one in the ClientHello the message callback saw, and each secret
recomputes the Finished message it authenticates (RFC 5246 7.4.9 for TLS
1.2's master secret, RFC 8446 4.4.4 for TLS 1.3's handshake traffic
secrets). The stdlib documents the attribute and the variable, so the
checks run on both modules."""

from __future__ import annotations

import errno
import gc
import hashlib
import hmac
import os
import subprocess
import sys
import threading
import warnings
from collections import Counter
from pathlib import Path

import pytest
from peers import BioPair, client_context, converse, server_context

import pyssl

TLS13_LABELS = {
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
    "EXPORTER_SECRET",
}

VERSIONS = ["TLSv1_2", "TLSv1_3"]


def logged(path):
    """The secrets in a key log: {client random: {label: secret}}, and the
    comment lines."""
    secrets: dict[bytes, dict[str, bytes]] = {}
    comments = []
    for line in Path(path).read_text("ascii").splitlines():
        if line.startswith("#"):
            comments.append(line)
            continue
        label, random_hex, secret_hex = line.split(" ")
        assert random_hex == random_hex.lower() and secret_hex == secret_hex.lower()
        secrets.setdefault(bytes.fromhex(random_hex), {})[label] = bytes.fromhex(
            secret_hex
        )
    return secrets, comments


def connect(serve, certs, module, version, keylog=None, side="client"):
    """One connection between two ``module`` contexts; the ``side`` one logs
    to ``keylog`` (when given) and records the handshake messages. Returns
    (messages as (direction, message bytes), cipher name)."""
    server_ctx = server_context(module, certs)
    client_ctx = client_context(module, certs)
    client_ctx.maximum_version = server_ctx.maximum_version = getattr(
        module.TLSVersion, version
    )
    logging_ctx = client_ctx if side == "client" else server_ctx
    if keylog is not None:
        logging_ctx.keylog_filename = keylog
    messages = []

    def record(conn, direction, version, content_type, msg_type, data):
        if content_type == module._TLSContentType.HANDSHAKE:
            messages.append((direction, data))

    logging_ctx._msg_callback = record
    _server, cipher = converse(
        serve, server_ctx, client_ctx, lambda tls: tls.cipher()[0]
    )
    return messages, cipher


def client_random(messages):
    """Bytes 6 to 38 of the ClientHello: after the message type (1), the
    length (3) and the legacy version (2)."""
    hello = messages[0][1]
    assert hello[0] == 1  # client_hello
    return hello[6:38]


def finished(messages, sender, version):
    """(every handshake message before ``sender``'s Finished, as hashed for
    it; the Finished message's verify_data). The client finishes first in
    a full TLS 1.2 handshake, the server in TLS 1.3."""
    indices = [i for i, (_direction, data) in enumerate(messages) if data[0] == 20]
    assert len(indices) == 2
    first = "client" if version == "TLSv1_2" else "server"
    index = indices[0 if sender == first else 1]
    return b"".join(data for _direction, data in messages[:index]), messages[index][1][
        4:
    ]


def hash_of(cipher):
    return hashlib.sha384 if cipher.endswith("SHA384") else hashlib.sha256


def tls12_prf(hash_function, secret, label, seed, size):
    """P_hash of RFC 5246 section 5."""
    seed = label + seed
    out, a = b"", seed
    while len(out) < size:
        a = hmac.new(secret, a, hash_function).digest()
        out += hmac.new(secret, a + seed, hash_function).digest()
    return out[:size]


def hkdf_expand_label(hash_function, secret, label, context, size):
    """HKDF-Expand-Label of RFC 8446 section 7.1, for one output block."""
    full_label = b"tls13 " + label
    info = (
        size.to_bytes(2, "big")
        + bytes([len(full_label)])
        + full_label
        + bytes([len(context)])
        + context
    )
    return hmac.new(secret, info + b"\x01", hash_function).digest()[:size]


# ---- the lines ------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["client", "server"])
def test_tls_1_3_secrets(serve, certs, either, tmp_path, side):
    keylog = tmp_path / "keys.log"
    messages, cipher = connect(serve, certs, either, "TLSv1_3", keylog, side)
    secrets, comments = logged(keylog)
    assert len(comments) == 1
    assert list(secrets) == [client_random(messages)]
    [labels] = secrets.values()
    assert set(labels) == TLS13_LABELS
    digest = hash_of(cipher)
    assert {len(secret) for secret in labels.values()} == {digest().digest_size}
    # Each handshake traffic secret keys the HMAC of its side's Finished.
    for sender in ("server", "client"):
        transcript, verify_data = finished(messages, sender, "TLSv1_3")
        secret = labels[f"{sender.upper()}_HANDSHAKE_TRAFFIC_SECRET"]
        key = hkdf_expand_label(digest, secret, b"finished", b"", digest().digest_size)
        assert (
            hmac.new(key, digest(transcript).digest(), digest).digest() == verify_data
        )


@pytest.mark.parametrize("side", ["client", "server"])
def test_tls_1_2_master_secret(serve, certs, either, tmp_path, side):
    keylog = tmp_path / "keys.log"
    messages, cipher = connect(serve, certs, either, "TLSv1_2", keylog, side)
    secrets, _comments = logged(keylog)
    assert list(secrets) == [client_random(messages)]
    [labels] = secrets.values()
    assert list(labels) == ["CLIENT_RANDOM"]
    master = labels["CLIENT_RANDOM"]
    assert len(master) == 48
    digest = hash_of(cipher)
    for sender in ("client", "server"):
        transcript, verify_data = finished(messages, sender, "TLSv1_2")
        label = f"{sender} finished".encode()
        assert (
            tls12_prf(digest, master, label, digest(transcript).digest(), 12)
            == verify_data
        )


def test_the_secrets_are_not_those_of_another_connection(
    serve, certs, either, tmp_path
):
    # The counterpart of the tests above: a secret from elsewhere does not
    # recompute a Finished message.
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    connect(serve, certs, either, "TLSv1_2", first_log)
    messages, cipher = connect(serve, certs, either, "TLSv1_2", second_log)
    [labels] = logged(first_log)[0].values()
    digest = hash_of(cipher)
    transcript, verify_data = finished(messages, "client", "TLSv1_2")
    assert (
        tls12_prf(
            digest,
            labels["CLIENT_RANDOM"],
            b"client finished",
            digest(transcript).digest(),
            12,
        )
        != verify_data
    )


# ---- the file ----------------------------------------------------------------------------


def test_a_new_file_starts_with_one_comment_line(serve, certs, either, tmp_path):
    keylog = tmp_path / "keys.log"
    connect(serve, certs, either, "TLSv1_3", keylog)
    lines = keylog.read_text("ascii").splitlines()
    assert lines[0].startswith("# TLS secrets log file, generated by OpenSSL / ")
    assert [line for line in lines if line.startswith("#")] == lines[:1]
    assert len(lines) == 1 + len(TLS13_LABELS)


@pytest.mark.parametrize("existing", ["", "# my notes\n"], ids=["empty", "with a line"])
def test_an_existing_file_is_appended_to(serve, certs, either, tmp_path, existing):
    # The comment line goes into empty files only.
    keylog = tmp_path / "keys.log"
    keylog.write_text(existing)
    messages, _cipher = connect(serve, certs, either, "TLSv1_2", keylog)
    lines = keylog.read_text("ascii").splitlines()
    if existing:
        assert lines[0] == "# my notes"
        assert len(lines) == 2
    else:
        assert lines[0].startswith("# TLS secrets log file")
    label, random_hex, _secret = lines[-1].split(" ")
    assert (label, random_hex) == ("CLIENT_RANDOM", client_random(messages).hex())


def test_lines_are_appended_across_connections_and_contexts(
    serve, certs, either, tmp_path
):
    keylog = tmp_path / "keys.log"
    randoms = [
        client_random(connect(serve, certs, either, version, keylog, side)[0])
        for version in VERSIONS
        for side in ("client", "server")
    ]
    secrets, comments = logged(keylog)
    assert len(comments) == 1
    assert list(secrets) == randoms  # in the order of the connections
    assert [len(labels) for labels in secrets.values()] == [1, 1, 5, 5]


def test_two_contexts_share_one_file(serve, certs, either, tmp_path):
    # Both ends of a connection log to the same file: each secret twice.
    keylog = tmp_path / "keys.log"
    server_ctx = server_context(either, certs, keylog_filename=keylog)
    client_ctx = client_context(either, certs, keylog_filename=keylog)
    converse(serve, server_ctx, client_ctx, lambda tls: None)
    secrets, comments = logged(keylog)
    assert len(comments) == 1
    [labels] = secrets.values()
    assert set(labels) == TLS13_LABELS
    lines = keylog.read_text("ascii").splitlines()[1:]
    assert Counter(lines) == dict.fromkeys(lines, 2)  # both ends wrote each line


def test_none_stops_logging(serve, certs, either, tmp_path):
    keylog = tmp_path / "keys.log"
    server_ctx = server_context(either, certs)
    client_ctx = client_context(either, certs, keylog_filename=str(keylog))
    assert client_ctx.keylog_filename == str(keylog)
    client_ctx.keylog_filename = None
    assert client_ctx.keylog_filename is None
    converse(serve, server_ctx, client_ctx, lambda tls: None)
    assert len(keylog.read_text("ascii").splitlines()) == 1  # the comment line alone


def test_a_new_file_replaces_the_old(serve, certs, either, tmp_path):
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    client_ctx = client_context(either, certs, keylog_filename=first)
    client_ctx.keylog_filename = second
    converse(serve, server_context(either, certs), client_ctx, lambda tls: None)
    assert len(first.read_text("ascii").splitlines()) == 1
    assert len(second.read_text("ascii").splitlines()) == 1 + len(TLS13_LABELS)


def descriptors_on(path):
    """The descriptors this process holds open on ``path``."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.path.samefile(f"/proc/self/fd/{name}", path):
                found.append(int(name))
        except OSError:  # the listing's own descriptor, closed by now
            pass
    return found


@pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd to see open files"
)
@pytest.mark.parametrize("release", ["context freed", "another file", "None"])
def test_the_file_is_closed_when_the_context_lets_it_go(
    serve, certs, either, tmp_path, release
):
    # The context closes its key log when it is freed or keylog_filename
    # changes. Left to the garbage collector, the file would stay open
    # for as long as the collector likes, then be reported as unclosed.
    keylog = tmp_path / "keys.log"
    gc.collect()  # what earlier tests left behind is no part of this one
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client_ctx = client_context(either, certs, keylog_filename=keylog)
        converse(serve, server_context(either, certs), client_ctx, lambda tls: None)
        assert len(descriptors_on(keylog)) == 1
        if release == "context freed":
            del client_ctx
        else:
            other = None if release == "None" else tmp_path / "other.log"
            client_ctx.keylog_filename = other
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert [str(w.message) for w in leaks] == []
    assert descriptors_on(keylog) == []
    # Every line reached the file.
    secrets, comments = logged(keylog)
    assert len(comments) == 1
    [labels] = secrets.values()
    assert set(labels) == TLS13_LABELS


@pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd to name a pipe"
)
def test_a_pipe_gets_the_lines_without_the_comment(serve, certs, either):
    # The comment line goes into empty files that can be positioned; a
    # pipe (Wireshark reading as the secrets come) cannot be.
    read_end, write_end = os.pipe()
    with open(read_end, "rb") as reader:
        try:
            client_ctx = client_context(
                either, certs, keylog_filename=f"/proc/self/fd/{write_end}"
            )
            converse(serve, server_context(either, certs), client_ctx, lambda tls: None)
            client_ctx.keylog_filename = None
        finally:
            os.close(write_end)
        lines = reader.read().decode("ascii").splitlines()
    assert sorted(line.split(" ")[0] for line in lines) == sorted(TLS13_LABELS)


def test_concurrent_handshakes_log_whole_lines(certs, either, tmp_path):
    # Both contexts log every connection to one file from several threads
    # at once: each line whole, each secret in it once per end.
    keylog = tmp_path / "keys.log"
    server_ctx = server_context(either, certs, keylog_filename=keylog)
    client_ctx = client_context(either, certs, keylog_filename=keylog)
    errors = []

    def connect_repeatedly():
        try:
            for _ in range(10):
                BioPair(client_ctx, server_ctx).handshake()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=connect_repeatedly) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    secrets, comments = logged(keylog)
    assert len(comments) == 1
    assert len(secrets) == 40
    assert all(set(labels) == TLS13_LABELS for labels in secrets.values())
    lines = keylog.read_text("ascii").splitlines()[1:]
    assert Counter(lines) == dict.fromkeys(lines, 2)


def test_changing_the_file_during_handshakes_fails_none_of_them(certs, tmp_path):
    # A handshake in another thread may be about to log to the file that
    # keylog_filename is closing: that line is dropped, the handshake goes
    # on. (pyssl only: the stdlib frees its key log under such handshakes.)
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    server_ctx = server_context(pyssl, certs)
    client_ctx = client_context(pyssl, certs, keylog_filename=first)
    done = threading.Event()
    errors = []

    def connect_repeatedly():
        try:
            for _ in range(50):
                BioPair(client_ctx, server_ctx).handshake()
        except BaseException as exc:
            errors.append(exc)

    def change_files():
        while not done.is_set():
            for path in (second, first):
                client_ctx.keylog_filename = path

    threads = [threading.Thread(target=connect_repeatedly) for _ in range(3)]
    changer = threading.Thread(target=change_files)
    changer.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    changer.join()
    assert errors == []
    for path in (first, second):
        secrets, comments = logged(path)  # whole lines only
        assert len(comments) == 1
        assert all(set(labels) <= TLS13_LABELS for labels in secrets.values())


@pytest.mark.parametrize("kind", ["str", "bytes", "Path"])
def test_the_value_reads_back_as_given(either, tmp_path, kind):
    path = tmp_path / "keys.log"
    value = {"str": str(path), "bytes": os.fsencode(path), "Path": path}[kind]
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    assert ctx.keylog_filename is None
    ctx.keylog_filename = value
    assert ctx.keylog_filename is value
    assert path.is_file()


@pytest.mark.parametrize(
    "value, message",
    [
        (42, "expected str, bytes or os.PathLike object, not int"),
        (3.5, "expected str, bytes or os.PathLike object, not float"),
        (["keys.log"], "expected str, bytes or os.PathLike object, not list"),
    ],
    ids=["int", "float", "list"],
)
def test_wrong_types_are_type_errors(either, tmp_path, value, message):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    ctx.keylog_filename = tmp_path / "keys.log"
    with pytest.raises(TypeError) as info:
        ctx.keylog_filename = value
    assert str(info.value) == message
    assert ctx.keylog_filename is None  # the old file is let go first


def test_an_embedded_null_is_a_value_error(either, tmp_path):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(ValueError) as info:
        ctx.keylog_filename = str(tmp_path / "keys\0.log")
    assert str(info.value) == "embedded null byte"


def test_a_directory_is_refused(either, tmp_path):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(IsADirectoryError) as info:
        ctx.keylog_filename = tmp_path
    assert info.value.filename == tmp_path
    assert str(info.value) == f"[Errno {errno.EISDIR}] Is a directory: {tmp_path!r}"
    assert ctx.keylog_filename is None


def test_a_missing_directory_is_refused(either, tmp_path):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    path = tmp_path / "missing" / "keys.log"
    with pytest.raises(FileNotFoundError) as info:
        ctx.keylog_filename = path
    assert info.value.filename == path


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root may write to read-only files",
)
def test_a_read_only_file_is_refused(either, tmp_path):
    path = tmp_path / "keys.log"
    path.write_text("")
    path.chmod(0o444)
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(PermissionError):
        ctx.keylog_filename = path


# ---- SSLKEYLOGFILE ------------------------------------------------------------------------

FACTORIES = [
    "create_default_context",
    "_create_unverified_context",
    "_create_stdlib_context",
]


@pytest.mark.parametrize("factory", FACTORIES)
def test_sslkeylogfile_is_honoured(either, tmp_path, monkeypatch, factory):
    keylog = str(tmp_path / "keys.log")
    monkeypatch.setenv("SSLKEYLOGFILE", keylog)
    assert getattr(either, factory)().keylog_filename == keylog
    assert Path(keylog).read_text().startswith("# TLS secrets log file")


def test_sslkeylogfile_for_servers(serve, certs, either, tmp_path, monkeypatch):
    keylog = tmp_path / "keys.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(keylog))
    server_ctx = either.create_default_context(either.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(certs.server_chain)
    monkeypatch.delenv("SSLKEYLOGFILE")
    converse(serve, server_ctx, client_context(either, certs), lambda tls: None)
    assert set(logged(keylog)[0].popitem()[1]) == TLS13_LABELS


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_without_sslkeylogfile_nothing_is_logged(either, monkeypatch, value):
    if value is None:
        monkeypatch.delenv("SSLKEYLOGFILE", raising=False)
    else:
        monkeypatch.setenv("SSLKEYLOGFILE", value)
    assert either.create_default_context().keylog_filename is None


def test_sslkeylogfile_is_ignored_with_minus_e(either, tmp_path):
    keylog = tmp_path / "keys.log"
    name = "pyssl" if either is pyssl else "ssl"
    code = f"import {name} as ssl; print(ssl.create_default_context().keylog_filename)"
    # pyssl is imported from its source tree (the current directory),
    # which -E leaves on the path, unlike PYTHONPATH.
    source_tree = Path(pyssl.__file__).parent.parent
    env = dict(os.environ, SSLKEYLOGFILE=str(keylog))
    for flags, expected in ((["-E"], "None"), ([], str(keylog))):
        result = subprocess.run(
            [sys.executable, *flags, "-c", code],
            cwd=source_tree,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stdout.strip() == expected
