"""CA certificates read once per process (pyssl/_trust_store.py): what
contexts loading the same cafile, cadata or default file get, compared with
the stdlib, which reads them again for every context; what makes a file be
read again; what is never kept; how many sources are kept; contexts made
in many threads at once."""

from __future__ import annotations

import os
import pathlib
import subprocess
import threading

import pytest
from cert_files import der_of
from openssl_cli import OPENSSL, needs_openssl
from peers import ThreadedServer, greeter, server_context
from ssl_modules import outcome

import pyssl
from pyssl import _trust_store

trustme = pytest.importorskip("trustme")


def system_bundle() -> str:
    path = pyssl.get_default_verify_paths().openssl_cafile
    if not os.path.isfile(path):
        pytest.skip("no system CA bundle on this machine")
    return path


def client_ctx(module):
    return module.SSLContext(module.PROTOCOL_TLS_CLIENT)


def store_view(ctx):
    """What a context's store shows: the counts, and the CA certificates
    (dicts and DER) in order."""
    return (
        ctx.cert_store_stats(),
        ctx.get_ca_certs(),
        ctx.get_ca_certs(binary_form=True),
    )


def pem(path) -> str:
    return pathlib.Path(path).read_text()


@pytest.fixture(autouse=True)
def no_sources_kept():
    _trust_store.clear()
    yield
    _trust_store.clear()


def failure(action, module):
    """What ``action(module)`` raised, as the stdlib's and pyssl's errors
    compare: the type and arguments, and for an SSLError its number and
    OpenSSL library (pyssl names reasons common to every library, such as
    ERR_R_PEM_LIB, in the message where the stdlib's table has none)."""
    result = outcome(action, module)
    assert result[0] == "raised", result
    if result[1].endswith("Error") and result[1].startswith("SSL"):
        return (result[1], result[2][0], result[2][1].split("]")[0].split(":")[0])
    return result[1:]


def loading(views: dict, first_cadata=None, **arguments):
    """An action for outcome(): load_verify_locations(**arguments) on a new
    client context (after ``first_cadata``, if given), noting in ``views``
    what the context's store shows afterwards, error or not."""

    def load(module):
        ctx = client_ctx(module)
        if first_cadata is not None:
            ctx.load_verify_locations(cadata=first_cadata)
        try:
            ctx.load_verify_locations(**arguments)
        finally:
            views[module.__name__] = store_view(ctx)

    return load


def file_keys() -> list[bytes]:
    return [key[1] for key in _trust_store.cached_keys() if key[0] == "file"]


# ---- files with CRLs, duplicates and trust settings ------------------------------


def crl_pem(ca: trustme.CA, revoked_serial: int = 0x1234) -> str:
    """A CRL issued by ``ca``, revoking one serial number."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), None)
    issuer = x509.load_pem_x509_certificate(ca.cert_pem.bytes()).subject
    now = datetime.datetime(2025, 1, 1)
    revoked = (
        x509.RevokedCertificateBuilder()
        .serial_number(revoked_serial)
        .revocation_date(now)
        .build()
    )
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer)
        .last_update(now)
        .next_update(now + datetime.timedelta(days=3650))
        .add_revoked_certificate(revoked)
        .sign(key, hashes.SHA256())
    )
    return crl.public_bytes(serialization.Encoding.PEM).decode()


def trusted_certificate_pem(path: str) -> str:
    """The certificate in ``path`` as a TRUSTED CERTIFICATE block (with
    trust settings: serverAuth trusted, emailProtection rejected)."""
    return subprocess.run(
        [
            OPENSSL or "openssl",
            "x509",
            "-in",
            path,
            "-addtrust",
            "serverAuth",
            "-addreject",
            "emailProtection",
            "-setalias",
            "pyssl test",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture(scope="module")
def mixed_bundle(tmp_path_factory) -> str:
    """A PEM file with CRLs between certificates, a certificate twice, a CRL
    before the certificate it follows in the file, a key and a TRUSTED
    CERTIFICATE block: what X509_load_cert_crl_file makes of it decides."""
    base = tmp_path_factory.mktemp("mixed")
    cas = [trustme.CA() for _ in range(3)]
    ca_files = []
    for i, ca in enumerate(cas):
        path = base / f"ca{i}.pem"
        ca.cert_pem.write_to_path(str(path))
        ca_files.append(str(path))
    leaf = cas[0].issue_cert("leaf.example")
    parts = [
        "Some text before the first block.\n",
        pem(ca_files[0]),
        crl_pem(cas[0]),
        crl_pem(cas[1], 7),
        pem(ca_files[1]),
        pem(ca_files[0]),  # again
        leaf.cert_chain_pems[0].bytes().decode(),
        leaf.private_key_pem.bytes().decode(),
    ]
    if OPENSSL is not None:
        parts.append(trusted_certificate_pem(ca_files[2]))
    path = base / "mixed.pem"
    path.write_text("".join(parts))
    return str(path)


# ---- the same store as the stdlib's -----------------------------------------------


def test_default_context_holds_what_the_stdlibs_holds(
    stdlib_on_the_same_openssl, default_ca_file
):
    stdlib = stdlib_on_the_same_openssl
    default_ca_file(system_bundle())
    expected = store_view(stdlib.create_default_context())
    first = pyssl.create_default_context()
    assert store_view(first) == expected
    assert len(file_keys()) == 1
    # Warm: from the kept source, while the first context is alive and
    # after it is gone.
    assert store_view(pyssl.create_default_context()) == expected
    del first
    assert store_view(pyssl.create_default_context()) == expected


@pytest.mark.parametrize("bundle", ["system", "mixed"])
def test_cafile_loads_what_the_stdlib_loads(
    stdlib_on_the_same_openssl, mixed_bundle, bundle
):
    stdlib = stdlib_on_the_same_openssl
    path = system_bundle() if bundle == "system" else mixed_bundle
    expected = client_ctx(stdlib)
    expected.load_verify_locations(cafile=path)
    for _ in range(2):  # read, then kept
        ctx = client_ctx(pyssl)
        ctx.load_verify_locations(cafile=path)
        assert store_view(ctx) == store_view(expected)
    if bundle == "mixed":
        stats = expected.cert_store_stats()
        assert stats["crl"] == 2
        assert stats["x509"] == (4 if OPENSSL is not None else 3)  # one is there twice


def test_a_store_that_held_something_gets_what_the_stdlibs_gets(
    stdlib_on_the_same_openssl, mixed_bundle, certs
):
    """Loads into a store that is not empty add one by one, as OpenSSL
    does: the same store, in contents and order, whichever load came
    first."""
    stdlib = stdlib_on_the_same_openssl
    bundle = system_bundle()
    steps = [
        dict(cadata=pem(certs.other_ca)),
        dict(cafile=mixed_bundle),
        dict(cafile=bundle),
        dict(cafile=mixed_bundle),  # again: every object already there
        dict(cadata=der_of(certs.ca)),
        dict(cadata=pem(mixed_bundle)),
    ]
    for _ in range(2):
        ours, theirs = client_ctx(pyssl), client_ctx(stdlib)
        for step in steps:
            ours.load_verify_locations(**step)
            theirs.load_verify_locations(**step)
            assert store_view(ours) == store_view(theirs), step


@needs_openssl
def test_trust_settings_of_a_trusted_certificate_block_are_kept(
    stdlib_on_the_same_openssl, tmp_path, verify_with
):
    """A TRUSTED CERTIFICATE block keeps its trust settings (X509 aux) in
    the shared certificate: a CA rejected for serverAuth fails
    verification as in the stdlib."""
    ca = trustme.CA()
    server = ca.issue_cert("localhost")
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    rejected = subprocess.run(
        [OPENSSL, "x509", "-in", str(ca_path), "-addreject", "serverAuth"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "TRUSTED CERTIFICATE" in rejected
    bundle = tmp_path / "rejected.pem"
    bundle.write_text(rejected)
    chain = tmp_path / "server.pem"
    server.private_key_and_cert_chain_pem.write_to_path(str(chain))

    def handshake(module):
        ctx = client_ctx(module)
        ctx.load_verify_locations(cafile=str(bundle))
        server_ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(str(chain))
        server = ThreadedServer(greeter(server_ctx, greeting=b""))
        try:
            with server.connect() as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost"):
                    result = "verified"
        except Exception as exc:
            result = (type(exc).__name__, getattr(exc, "verify_code", None))
        server.join()
        return result

    expected = handshake(stdlib_on_the_same_openssl)
    assert expected == ("SSLCertVerificationError", 28)  # X509_V_ERR_CERT_REJECTED
    assert handshake(pyssl) == expected
    assert handshake(pyssl) == expected  # from the kept source


# ---- verification --------------------------------------------------------------------


@pytest.fixture
def bundle_with_test_ca(tmp_path, certs) -> str:
    path = tmp_path / "bundle.pem"
    path.write_text(pem(system_bundle()) + pem(certs.ca))
    return str(path)


def test_verification_outcomes_match_the_stdlibs(
    either, certs, verify_with, bundle_with_test_ca, default_ca_file
):
    default_ca_file(bundle_with_test_ca)
    for _ in range(2):
        assert verify_with(either.create_default_context()) in ("TLSv1.3", "TLSv1.2")
    # A CA that is not in the bundle.
    default_ca_file(system_bundle())
    for _ in range(2):
        failure = verify_with(either.create_default_context())
        assert isinstance(failure, either.SSLCertVerificationError)
        assert failure.verify_code == 20  # unable to get local issuer certificate


def test_contexts_stay_isolated(
    certs, verify_with, second_server, default_ca_file, handshake
):
    """A CA one context adds, and its verification flags, are its own."""
    default_ca_file(system_bundle())
    first = pyssl.create_default_context()
    before = store_view(first)
    first.load_verify_locations(cadata=pem(certs.ca))
    first.verify_flags |= pyssl.VERIFY_CRL_CHECK_LEAF | pyssl.VERIFY_X509_STRICT
    assert first.cert_store_stats()["x509"] == before[0]["x509"] + 1

    second = pyssl.create_default_context()
    assert store_view(second) == before
    assert not second.verify_flags & pyssl.VERIFY_CRL_CHECK_LEAF
    failure = verify_with(second)
    assert isinstance(failure, pyssl.SSLCertVerificationError)
    assert failure.verify_code == 20
    # The first context trusts the test CA but wants a CRL it lacks.
    failure = verify_with(first)
    assert isinstance(failure, pyssl.SSLCertVerificationError)
    assert failure.verify_code == 3  # unable to get certificate CRL
    first.verify_flags &= ~pyssl.VERIFY_CRL_CHECK_LEAF
    assert verify_with(first) in ("TLSv1.3", "TLSv1.2")
    # A third context loading the same file alongside its own CA.
    third = pyssl.create_default_context()
    third.load_verify_locations(cadata=pem(second_server[2]))
    assert store_view(pyssl.create_default_context()) == before
    del first, second, third
    assert store_view(pyssl.create_default_context()) == before


# ---- when a file is read again --------------------------------------------------------


def same_size_pems(count: int) -> list[str]:
    """PEM texts of ``count`` different CAs, padded to one size with text
    outside the blocks."""
    texts = [trustme.CA().cert_pem.bytes().decode() for _ in range(count)]
    size = max(len(t) for t in texts)
    return [t + "#" * (size - len(t)) for t in texts]


@pytest.mark.parametrize("how", ["in place, mtime kept", "replaced"])
def test_a_rewritten_file_is_read_again(tmp_path, how):
    old, new = same_size_pems(2)
    path = tmp_path / "ca.pem"
    path.write_text(old)

    def ca_certs():
        ctx = client_ctx(pyssl)
        ctx.load_verify_locations(cafile=str(path))
        return ctx.get_ca_certs(binary_form=True)

    assert ca_certs() == [pyssl.PEM_cert_to_DER_cert(old.rstrip("#"))]
    stat = os.stat(path)
    if how == "replaced":
        other = tmp_path / "new.pem"
        other.write_text(new)
        os.replace(other, path)
    else:
        with open(path, "r+") as f:
            f.write(new)
        # The same size and modification time: only the change time tells.
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(path).st_size == stat.st_size
    assert ca_certs() == [pyssl.PEM_cert_to_DER_cert(new.rstrip("#"))]
    assert file_keys() == [os.fsencode(path)]  # the old version is gone


def test_default_file_is_resolved_on_each_call(tmp_path, default_ca_file, monkeypatch):
    first, second = (tmp_path / "a.pem", tmp_path / "b.pem")
    pems = same_size_pems(2)
    first.write_text(pems[0])
    second.write_text(pems[1] + pems[0])
    default_ca_file(str(first))
    assert pyssl.create_default_context().cert_store_stats()["x509"] == 1
    default_ca_file(str(second))
    assert pyssl.create_default_context().cert_store_stats()["x509"] == 2
    monkeypatch.delenv("SSL_CERT_FILE")
    expected = pyssl.get_default_verify_paths().openssl_cafile
    pyssl.create_default_context()
    if os.path.isfile(expected):
        assert os.fsencode(expected) in file_keys()


# ---- failures: the stdlib's, and never kept --------------------------------------------


def bad_files(certs, base: pathlib.Path) -> dict[str, str]:
    good = pem(certs.ca)
    lines = pem(certs.other_ca).splitlines(keepends=True)
    truncated = "".join(lines[:4] + lines[-1:])  # base64 cut short
    files = {
        "missing": str(base / "missing.pem"),
        "a directory": str(base),
        "empty": "",
        "no PEM": "not a certificate\n",
        "good then bad": good + truncated,
        "bad then good": truncated + good,
        "key only": pem(certs.server_key),
        "bad CRL": good + "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
    }
    paths = {}
    for name, text in files.items():
        if name in ("missing", "a directory"):
            paths[name] = text
            continue
        path = base / (name.replace(" ", "-") + ".pem")
        path.write_text(text)
        paths[name] = str(path)
    return paths


def test_bad_files_fail_as_in_the_stdlib_and_are_not_kept(
    stdlib_on_the_same_openssl, certs, tmp_path
):
    stdlib = stdlib_on_the_same_openssl
    for name, path in bad_files(certs, tmp_path).items():
        for first in (None, pem(certs.server_cert)):
            views: dict = {}
            load = loading(views, first, cafile=path)
            expected = failure(load, stdlib)
            for _ in range(2):
                assert failure(load, pyssl) == expected, name
                assert views["pyssl"] == views["ssl"], name
        assert os.fsencode(path) not in file_keys(), name


def test_a_file_that_failed_loads_once_fixed(certs, tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text("garbage\n")
    with pytest.raises(pyssl.SSLError):
        client_ctx(pyssl).load_verify_locations(cafile=str(path))
    assert file_keys() == []
    path.write_text(pem(certs.ca))
    ctx = client_ctx(pyssl)
    ctx.load_verify_locations(cafile=str(path))
    assert ctx.cert_store_stats()["x509_ca"] == 1
    assert file_keys() == [os.fsencode(path)]


def test_bad_default_file_loads_nothing_as_in_the_stdlib(
    stdlib_on_the_same_openssl, certs, tmp_path, default_ca_file
):
    for name, path in bad_files(certs, tmp_path).items():
        default_ca_file(path)
        assert store_view(pyssl.create_default_context()) == store_view(
            stdlib_on_the_same_openssl.create_default_context()
        ), name
    assert file_keys() == []


def bad_cadata(certs) -> dict[str, object]:
    good, other = pem(certs.ca), pem(certs.other_ca)
    lines = other.splitlines(keepends=True)
    return {
        "good then bad PEM": good + "".join(lines[:4] + lines[-1:]),
        "no certificate PEM": "hello\n",
        "good then garbage DER": der_of(certs.ca) + b"\x30\x03\x02\x01",
        "garbage DER": b"\x30\x03\x02\x01\x00",
        "truncated DER": der_of(certs.ca)[:-10],
        "good then truncated DER": der_of(certs.ca) + der_of(certs.other_ca)[:-1],
        "PEM as bytes": good.encode(),
    }


def test_bad_cadata_fails_as_in_the_stdlib_and_is_not_kept(
    stdlib_on_the_same_openssl, certs
):
    stdlib = stdlib_on_the_same_openssl
    for name, data in bad_cadata(certs).items():
        views: dict = {}
        load = loading(views, cadata=data)
        expected = failure(load, stdlib)
        for _ in range(2):
            assert failure(load, pyssl) == expected, name
            assert views["pyssl"] == views["ssl"], name
    assert _trust_store.cached_keys() == []


def test_cadata_is_kept_by_content(certs):
    text = pem(certs.other_ca) + pem(certs.ca)
    for data in (text, text, bytearray(der_of(certs.ca)), der_of(certs.ca)):
        ctx = client_ctx(pyssl)
        ctx.load_verify_locations(cadata=data)
    kinds = [key[:2] for key in _trust_store.cached_keys()]
    assert kinds == [("data", True), ("data", False)]
    # The buffer given changes afterwards: what was kept does not.
    changing = bytearray(der_of(certs.ca))
    client_ctx(pyssl).load_verify_locations(cadata=changing)
    changing[:] = der_of(certs.other_ca)
    ctx = client_ctx(pyssl)
    ctx.load_verify_locations(cadata=changing)
    assert ctx.get_ca_certs(binary_form=True) == [der_of(certs.other_ca)]


# ---- how many sources are kept -----------------------------------------------------------


def test_sources_kept_are_bounded_least_recently_used_out_first(tmp_path):
    pems = same_size_pems(4)
    paths = []
    for i in range(_trust_store.MAX_SOURCES + 4):
        path = tmp_path / f"ca{i}.pem"
        path.write_text(pems[i % len(pems)])
        paths.append(os.fsencode(path))
    for i, path in enumerate(paths):
        client_ctx(pyssl).load_verify_locations(cafile=path)
        if i >= 1:
            # The first file is used again and again: it stays.
            client_ctx(pyssl).load_verify_locations(cafile=paths[0])
    kept = file_keys()
    assert len(kept) == _trust_store.MAX_SOURCES
    assert paths[0] in kept
    assert kept == [p for p in paths if p in kept and p != paths[0]] + [paths[0]]
    assert paths[1] not in kept
    assert paths[-1] in kept


# ---- threads ----------------------------------------------------------------------------------


def test_threads_load_while_others_verify(certs, bundle_with_test_ca):
    """Contexts made from one file in several threads at once, some of
    them verifying a server with them, while the file is kept, dropped and
    read again."""
    expected = client_ctx(pyssl)
    expected.load_verify_locations(cafile=bundle_with_test_ca)
    expected_view = store_view(expected)
    _trust_store.clear()
    rounds, handshakes = 25, 6
    errors: list[BaseException] = []
    server_ctx = server_context(pyssl, certs)

    def loader():
        try:
            for i in range(rounds):
                ctx = client_ctx(pyssl)
                ctx.load_verify_locations(cafile=bundle_with_test_ca)
                if ctx.cert_store_stats() != expected_view[0]:
                    raise AssertionError("a context got another store")
                if i % 10 == 0:
                    _trust_store.clear()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def verifier():
        try:
            for _ in range(handshakes):
                ctx = client_ctx(pyssl)
                ctx.load_verify_locations(cafile=bundle_with_test_ca)
                with server.connect(timeout=30) as raw:
                    with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                        assert tls.recv(1) == b"x"
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=loader) for _ in range(3)]
    workers += [threading.Thread(target=verifier) for _ in range(2)]
    # The server takes the verifiers' connections one at a time until closed.
    with ThreadedServer(greeter(server_ctx, greeting=b"x"), connections=None) as server:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
    assert not any(worker.is_alive() for worker in workers)
    assert errors == []
    ctx = client_ctx(pyssl)
    ctx.load_verify_locations(cafile=bundle_with_test_ca)
    assert store_view(ctx) == expected_view


@needs_openssl
def test_cafile_with_capath(stdlib_on_the_same_openssl, certs, tmp_path, verify_with):
    """The file from its source, the directory looked up lazily by OpenSSL
    as before: nothing of it counted until a handshake needs it."""
    name = subprocess.run(
        [OPENSSL, "x509", "-in", certs.ca, "-noout", "-subject_hash"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    directory = tmp_path / "hashed"
    directory.mkdir()
    (directory / f"{name}.0").write_text(pem(certs.ca))
    views = []
    for module in (stdlib_on_the_same_openssl, pyssl, pyssl):
        ctx = client_ctx(module)
        ctx.load_verify_locations(cafile=system_bundle(), capath=str(directory))
        before = store_view(ctx)
        assert verify_with(ctx) in ("TLSv1.3", "TLSv1.2")
        views.append((before, store_view(ctx)))
    assert views[1] == views[0] and views[2] == views[0]
    assert views[0][1][0]["x509"] == views[0][0][0]["x509"] + 1
