"""CA files read lazily (pyssl/_trust_store.py, _native/trust_store.h): a
bundle of plain PEM blocks is read without decoding its certificates, and a
store gets a subject's certificates when verification asks for them. What
verification decides, and what cert_store_stats() and get_ca_certs()
report before and after handshakes, must be what the eager load gives: the
stdlib's, and pyssl's own eager reading."""

from __future__ import annotations

import base64
import contextlib
import datetime
import os
import random
import sys
import textwrap
import threading
from typing import Any

import pytest
from openssl_cli import OPENSSL, needs_openssl
from peers import ThreadedServer, greeter
from ssl_modules import STDLIB_SSL, same_openssl

import pyssl
from pyssl import _trust_store
from pyssl._lib import ffi, lib

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

SYSTEM_BUNDLE = pyssl.get_default_verify_paths().openssl_cafile
NOW = datetime.datetime.now(datetime.timezone.utc)


@pytest.fixture
def references() -> list[Any]:
    """What pyssl reading lazily is compared with: pyssl reading eagerly,
    and the stdlib where it links the same OpenSSL release (what a store
    holds, and in which order, differs between releases)."""
    found: list[Any] = ["eager"]
    if STDLIB_SSL is not None and same_openssl(STDLIB_SSL):
        found.append(STDLIB_SSL)
    return found


def agreed(references: list[Any], steps: Any) -> Any:
    """What ``steps(module)`` gives for every reference: the same for all,
    or the test fails."""
    expected = None
    for reference in references:
        got = steps(reading("eager") if reference == "eager" else reference)
        assert expected is None or got == expected, reference
        expected = got
    return expected


def reading(how: str) -> Any:
    """pyssl, reading files ``how`` ("lazy" or "eager") from now on, with
    nothing kept from before."""
    _trust_store.set_lazy(how == "lazy")
    _trust_store.clear()
    return pyssl


@pytest.fixture(autouse=True)
def fresh_sources():
    _trust_store.clear()
    _trust_store.set_lazy(True)
    yield
    _trust_store.clear()
    _trust_store.set_lazy(True)


def needs_lazy_reading():
    if not sys.platform.startswith("linux") or os.environ.get("PYSSL_NO_LAZY_CHECK"):
        pytest.skip("files are read lazily only where qsort() is stable (glibc)")


# ---- certificates ------------------------------------------------------------------


def name(common: str, org: str = "pyssl lazy tests") -> Any:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


class Issued:
    def __init__(self, cert: Any, key: Any) -> None:
        self.cert, self.key = cert, key

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()


def issue(
    subject: Any,
    issuer: Issued | None = None,
    *,
    ca: bool = True,
    key: Any = None,
    akid: bool = True,
    serial: int | None = None,
    days: tuple[int, int] = (-1, 3650),
    dns: str | None = None,
) -> Issued:
    """A certificate for ``subject``, self-signed unless ``issuer`` is given."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    signer = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(NOW + datetime.timedelta(days=days[0]))
        .not_valid_after(NOW + datetime.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    )
    if akid:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
            critical=False,
        )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False
        )
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def leaf(issuer: Issued, **kwargs: Any) -> Issued:
    return issue(
        name("localhost", "pyssl lazy leaf"),
        issuer,
        ca=False,
        dns="localhost",
        **kwargs,
    )


def crl_pem(issuer: Issued, revoked: list[int]) -> str:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(NOW - datetime.timedelta(days=1))
        .next_update(NOW + datetime.timedelta(days=3650))
    )
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(NOW - datetime.timedelta(days=1))
            .build()
        )
    crl = builder.sign(issuer.key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.PEM).decode()


def system_pem() -> str:
    if not os.path.isfile(SYSTEM_BUNDLE):
        return ""
    with open(SYSTEM_BUNDLE) as f:
        return f.read()


def write(path: Any, text: str) -> str:
    with open(path, "w", newline="") as f:
        f.write(text)
    return str(path)


# ---- handshakes -------------------------------------------------------------------


def outcome_of(exc: BaseException | None) -> Any:
    if exc is None:
        return "verified"
    return (type(exc).__name__, getattr(exc, "verify_code", None))


def server_for(tmp_path: Any, chain: list[Issued]) -> Any:
    path = write(
        tmp_path / f"server-{id(chain)}.pem",
        chain[0].key_pem + "".join(c.pem for c in chain),
    )
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(path)
    return ctx


def connect(client_ctx: Any, server_ctx: Any) -> Any:
    """One handshake over loopback; the client's outcome."""
    server = ThreadedServer(greeter(server_ctx))
    error = None
    with server.connect() as raw:
        try:
            with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.recv(1)
        except Exception as exc:  # noqa: BLE001 - compared below
            error = exc
    server.join()
    return outcome_of(error)


def view(ctx: Any) -> Any:
    return (
        ctx.cert_store_stats(),
        ctx.get_ca_certs(),
        ctx.get_ca_certs(binary_form=True),
    )


def raw_count(ctx: Any) -> int:
    """How many objects the context's X509_STORE holds right now (a copy
    taken under the store's lock: handshakes may add to it meanwhile)."""
    objects = lib.pyssl_store_objects(ctx._ctx_ptr)
    assert objects != ffi.NULL
    try:
        return lib.sk_X509_OBJECT_num(objects)
    finally:
        lib.pyssl_free_store_objects(objects)


def client(module: Any, bundle: str, how: str, flags: int = 0) -> Any:
    if how == "cafile":
        ctx = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cafile=bundle)
    else:
        os.environ["SSL_CERT_FILE"] = bundle
        ctx = module.create_default_context()
    ctx.verify_flags |= flags
    return ctx


def run(
    module: Any,
    bundle: str,
    how: str,
    servers: list[Any],
    flags: int = 0,
    looks: bool = True,
) -> Any:
    """What a client of ``module`` that loaded ``bundle`` decides for each
    server in turn, and what its store shows before and after (with
    ``looks``: reading the store completes it, which changes nothing the
    test could see but which store verification then reads)."""
    ctx = client(module, bundle, how, flags)
    before = view(ctx) if looks else None
    outcomes = [connect(ctx, server) for server in servers]
    return outcomes, before, view(ctx)


@pytest.fixture
def ssl_cert_file(monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", os.environ.get("SSL_CERT_FILE", SYSTEM_BUNDLE))


def compare(
    references: list[Any], bundle: str, servers: list[Any], flags: int = 0
) -> list[Any]:
    """pyssl reading lazily against ``references``, loading ``bundle`` with
    load_verify_locations() and as the default file, reading the store
    before the handshakes or not; returns the outcomes of the first way
    (create_default_context() sets flags of its own on Python 3.13)."""
    results = []
    for how in ("cafile", "default"):
        for looks in (True, False):
            expected = agreed(
                references,
                lambda module, how=how, looks=looks: run(
                    module, bundle, how, servers, flags, looks
                ),
            )
            reading("lazy")
            for _ in range(2):  # read, then kept
                assert run(pyssl, bundle, how, servers, flags, looks) == expected, (
                    how,
                    looks,
                )
            results.append(expected[0])
    return results[0]


# ---- reading lazily -------------------------------------------------------------


def kept_source(path: str) -> Any:
    key = ("file", os.fsencode(path))
    return _trust_store._lookup(key, _trust_store._file_signature(os.fsencode(path)))


def test_a_plain_bundle_is_read_lazily_and_shows_whole(
    references, tmp_path, ssl_cert_file
):
    needs_lazy_reading()
    root = issue(name("root"))
    path = write(tmp_path / "bundle.pem", system_pem() + root.pem + crl_pem(root, [5]))

    def loaded(module: Any) -> Any:
        other = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
        other.load_verify_locations(cafile=path)
        return view(other)

    expected = agreed(references, loaded)
    reading("lazy")
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=path)
    assert _trust_store.is_lazy(kept_source(path))
    assert raw_count(ctx) == 0
    assert view(ctx) == expected
    assert raw_count(ctx) == expected[0]["x509"] + 1
    # A file with anything else in it is read eagerly, as before.
    other = write(tmp_path / "with-key.pem", root.pem + root.key_pem)
    pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=other)
    assert not _trust_store.is_lazy(kept_source(other))


def test_verification_through_an_intermediate_and_a_root_of_the_bundle(
    references, tmp_path, ssl_cert_file
):
    root = issue(name("root"))
    intermediate = issue(name("intermediate"), root)
    server = leaf(intermediate)
    other_root = issue(name("other root"))
    bundle = write(tmp_path / "bundle.pem", system_pem() + intermediate.pem + root.pem)
    servers = [
        server_for(tmp_path, [server]),
        server_for(tmp_path, [server, intermediate]),
        server_for(tmp_path, [leaf(other_root)]),
    ]
    outcomes = compare(references, bundle, servers)
    assert outcomes[:2] == ["verified", "verified"]
    assert outcomes[2] == ("SSLCertVerificationError", 20)


def test_partial_chain(references, tmp_path, ssl_cert_file):
    root = issue(name("root"))
    intermediate = issue(name("intermediate"), root)
    bundle = write(tmp_path / "bundle.pem", system_pem() + intermediate.pem)
    servers = [server_for(tmp_path, [leaf(intermediate), intermediate])]
    assert compare(references, bundle, servers) == [("SSLCertVerificationError", 2)]
    partial = compare(references, bundle, servers, pyssl.VERIFY_X509_PARTIAL_CHAIN)
    assert partial == ["verified"]
    # A leaf of the bundle is trusted as it is, with the flag.
    own = leaf(intermediate)
    bundle = write(tmp_path / "leaf.pem", system_pem() + own.pem)
    assert compare(
        references,
        bundle,
        [server_for(tmp_path, [own])],
        pyssl.VERIFY_X509_PARTIAL_CHAIN,
    ) == ["verified"]


@pytest.mark.parametrize("check", ["leaf", "chain"])
def test_a_crl_in_the_bundle_revokes(references, tmp_path, check, ssl_cert_file):
    root = issue(name("root"))
    intermediate = issue(name("intermediate"), root)
    revoked = leaf(intermediate, serial=4242)
    good = leaf(intermediate, serial=4243)
    flags = (
        pyssl.VERIFY_CRL_CHECK_LEAF if check == "leaf" else pyssl.VERIFY_CRL_CHECK_CHAIN
    )
    crls = crl_pem(intermediate, [4242]) + crl_pem(root, [1])
    bundle = write(
        tmp_path / "bundle.pem", system_pem() + root.pem + crls + intermediate.pem
    )
    servers = [
        server_for(tmp_path, [revoked, intermediate]),
        server_for(tmp_path, [good, intermediate]),
    ]
    assert compare(references, bundle, servers, flags) == [
        ("SSLCertVerificationError", 23),
        "verified",
    ]
    # Without the root's CRL, checking the chain finds none for the
    # intermediate; the leaf alone is fine.
    bundle = write(
        tmp_path / "no-root-crl.pem",
        system_pem() + root.pem + crl_pem(intermediate, [4242]) + intermediate.pem,
    )
    expected = [
        ("SSLCertVerificationError", 23),
        "verified" if check == "leaf" else ("SSLCertVerificationError", 3),
    ]
    assert compare(references, bundle, servers, flags) == expected


@pytest.mark.parametrize("order", ["matching first", "matching last"])
def test_two_cas_of_one_name(references, tmp_path, order, ssl_cert_file):
    """Two CAs with the same subject and different keys: OpenSSL tries
    them in the store's order when nothing else tells them apart (no
    authority key identifier), so the order must be the eager store's."""
    matching = issue(name("twin"))
    other = issue(name("twin"))
    server = leaf(matching, akid=False)
    cas = [matching, other] if order == "matching first" else [other, matching]
    bundle = write(
        tmp_path / "bundle.pem", system_pem() + "".join(ca.pem for ca in cas)
    )
    outcomes = compare(references, bundle, [server_for(tmp_path, [server])] * 2)
    assert (outcomes[0] == "verified") == (order == "matching first")
    # Told apart by validity: the expired one is passed over.
    expired = issue(name("twin"), key=other.key, days=(-20, -10))
    bundle = write(tmp_path / "expired.pem", system_pem() + expired.pem + matching.pem)
    assert compare(references, bundle, [server_for(tmp_path, [server])]) == ["verified"]


def test_duplicates_and_trusted_certificates(references, tmp_path, ssl_cert_file):
    root = issue(name("root"))
    server = server_for(tmp_path, [leaf(root)])
    der = root.der
    trusted = (
        "-----BEGIN TRUSTED CERTIFICATE-----\n"
        + "\n".join(
            textwrap.wrap(base64.b64encode(der + bytes.fromhex("3000")).decode(), 64)
        )
        + "\n-----END TRUSTED CERTIFICATE-----\n"
    )
    for text in (
        root.pem + root.pem,
        trusted + root.pem,
        root.pem + trusted,
        system_pem() + root.pem * 3,
    ):
        bundle = write(tmp_path / "dups.pem", text)
        assert compare(references, bundle, [server]) == ["verified"]


def test_later_loads_into_the_same_store(references, tmp_path, ssl_cert_file):
    """cadata or another file added after a lazily read file, before and
    after handshakes: the store is the eager one."""
    root, extra = issue(name("root")), issue(name("extra"))
    bundle = write(tmp_path / "bundle.pem", system_pem() + root.pem)
    second = write(tmp_path / "second.pem", extra.pem + root.pem)
    servers = [server_for(tmp_path, [leaf(root)]), server_for(tmp_path, [leaf(extra)])]

    def steps(module: Any) -> Any:
        seen = []
        for order in range(3):
            ctx = client(module, bundle, "cafile")
            if order == 1:
                seen.append(connect(ctx, servers[0]))
            ctx.load_verify_locations(cadata=extra.pem)
            if order == 2:
                ctx.load_verify_locations(cafile=second)
            seen += [connect(ctx, s) for s in servers]
            seen.append(view(ctx))
        # A file loaded into a store that holds something.
        ctx = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cadata=extra.pem)
        ctx.load_verify_locations(cafile=bundle)
        seen += [connect(ctx, s) for s in servers] + [view(ctx)]
        return seen

    expected = agreed(references, steps)
    reading("lazy")
    assert steps(pyssl) == expected
    assert steps(pyssl) == expected


@needs_openssl
def test_a_hashed_directory_that_also_holds_certificates_of_the_file(
    references, tmp_path, ssl_cert_file
):
    """A look-up in a hashed directory, asked for a name the file lacks,
    may bring certificates of names the file has (here from a file that
    holds more than its hash names): the store must still hold the file's
    first and drop what repeats it, as the eager store does."""
    import subprocess

    twin = issue(name("twin"))
    other_twin = issue(name("twin"))
    outsider = issue(name("outsider"))
    bundle = write(tmp_path / "bundle.pem", system_pem() + twin.pem)
    directory = tmp_path / "hashed"
    directory.mkdir()
    outsider_path = write(tmp_path / "outsider.pem", outsider.pem)
    hashed = subprocess.run(
        [OPENSSL, "x509", "-in", outsider_path, "-noout", "-subject_hash"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    write(directory / f"{hashed}.0", outsider.pem + other_twin.pem + twin.pem)
    servers = [
        server_for(tmp_path, [leaf(outsider)]),
        server_for(tmp_path, [leaf(twin, akid=False)]),
        server_for(tmp_path, [leaf(other_twin, akid=False)]),
    ]

    def steps(module: Any) -> Any:
        seen = []
        for order in (servers, servers[::-1]):
            ctx = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(cafile=bundle, capath=str(directory))
            seen += [connect(ctx, s) for s in order] + [view(ctx)]
        return seen

    expected = agreed(references, steps)
    assert expected[0] == "verified"
    reading("lazy")
    assert steps(pyssl) == expected
    assert steps(pyssl) == expected


# ---- threads --------------------------------------------------------------------------


def test_threads_handshake_while_the_store_is_read(references, tmp_path, ssl_cert_file):
    needs_lazy_reading()
    roots = [issue(name(f"root {i}")) for i in range(4)]
    bundle = write(
        tmp_path / "bundle.pem", system_pem() + "".join(r.pem for r in roots)
    )
    server_contexts = [server_for(tmp_path, [leaf(r)]) for r in roots]

    def shown(module: Any) -> Any:
        """What the store can show: as loaded, or sorted once verification
        read it."""
        loaded = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
        loaded.load_verify_locations(cafile=bundle)
        sorted_ = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
        sorted_.load_verify_locations(cafile=bundle)
        sorted_.get_ca_certs()
        assert connect(sorted_, server_contexts[0]) == "verified"
        return view(loaded), view(sorted_)

    errors: list[BaseException] = []
    with contextlib.ExitStack() as stack:
        # Each serves every connection in a thread of its own until closed.
        servers = [
            stack.enter_context(
                ThreadedServer(greeter(ctx), connections=None, concurrent=True)
            )
            for ctx in server_contexts
        ]
        views = agreed(references, shown)
        reading("lazy")
        for reader_first in (False, True):
            _trust_store.clear()
            ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(cafile=bundle)
            assert raw_count(ctx) == 0
            start = threading.Barrier(5)
            seen: list[Any] = []

            def handshakes(i: int, ctx: Any = ctx, start: Any = start) -> None:
                try:
                    start.wait(30)
                    for j in range(6):
                        server = servers[(i + j) % len(servers)]
                        with server.connect(timeout=30) as raw:
                            with ctx.wrap_socket(
                                raw, server_hostname="localhost"
                            ) as tls:
                                assert tls.recv(1) == b"!"
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            def reader(
                ctx: Any = ctx,
                start: Any = start,
                seen: list[Any] = seen,
                reader_first: bool = reader_first,
            ) -> None:
                try:
                    if reader_first:
                        seen.append(view(ctx))
                    start.wait(30)
                    for _ in range(10):
                        seen.append(view(ctx))
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=handshakes, args=(i,)) for i in range(4)]
            threads.append(threading.Thread(target=reader))
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            assert not any(t.is_alive() for t in threads)
            assert errors == []
            # Each read on its own: a handshake may sort the store between two.
            assert all(
                part in (views[0][k], views[1][k])
                for v in seen
                for k, part in enumerate(v)
            )
            assert view(ctx) == views[1]


# ---- files read lazily or not: the same store, the same failures --------------------


def variants(tmp_path: Any) -> dict[str, str]:
    root = issue(name("root"))
    pem = root.pem
    body = pem.split("\n")[1:-2]
    der = bytearray(root.der)
    der[-1] ^= 1  # a signature OpenSSL reads as well
    odd_der = (
        "-----BEGIN CERTIFICATE-----\n"
        + "\n".join(textwrap.wrap(base64.b64encode(bytes(der)).decode(), 64))
        + "\n-----END CERTIFICATE-----\n"
    )
    texts = {
        "plain": pem,
        "crlf": pem.replace("\n", "\r\n"),
        "no final newline": pem.rstrip("\n"),
        "comments": "# a comment\n\n" + pem + "trailing text\n",
        "byte order mark": "\ufeff" + pem,
        "trailing blank": pem.replace("-----\n", "-----  \n", 1),
        "long lines": "-----BEGIN CERTIFICATE-----\n"
        + "".join(body)
        + "\n-----END CERTIFICATE-----\n",
        "header": pem.replace("-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1),
        "blank line inside": pem.replace(body[2] + "\n", body[2] + "\n\n", 1),
        "bad base64": pem.replace(body[1], body[1][:10] + "*" + body[1][11:], 1),
        "truncated": "\n".join(pem.split("\n")[:4] + pem.split("\n")[-2:]),
        "wrong end": pem.replace("END CERTIFICATE", "END X509 CRL"),
        "unknown block": pem + "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n",
        "old name": pem.replace(" CERTIFICATE-----", " X509 CERTIFICATE-----"),
        "changed signature": odd_der,
        "garbage der": "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n",
        "bad crl": pem + "-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n",
        "empty": "",
    }
    return {
        label: write(tmp_path / f"v{i}.pem", text)
        for i, (label, text) in enumerate(texts.items())
    }


def load_outcome(module: Any, path: str) -> Any:
    ctx = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
    try:
        ctx.load_verify_locations(cafile=path)
        result: Any = "loaded"
    except Exception as exc:  # noqa: BLE001 - compared below
        result = (type(exc).__name__, exc.args[:1])
    try:
        return result, view(ctx)
    except (
        ValueError,
        pyssl.SSLError,
    ) as exc:  # a changed certificate whose text cannot be decoded
        return (
            result,
            ctx.cert_store_stats(),
            ctx.get_ca_certs(binary_form=True),
            type(exc).__name__,
        )


def test_odd_files_load_or_fail_as_in_the_stdlib(references, tmp_path):
    for label, path in variants(tmp_path).items():
        expected = agreed(
            references, lambda module, path=path: load_outcome(module, path)
        )
        assert load_outcome(reading("lazy"), path) == expected, label
        # Read again from what was kept.
        assert load_outcome(pyssl, path) == expected, label


def through_a_pipe(path: str, text: str, action: Any) -> Any:
    """``action()`` while a thread writes ``text`` once into a named pipe
    made at ``path``: opening the pipe a second time finds it empty (the
    thread lets such an opening end) rather than waiting for a writer."""
    os.mkfifo(path)
    done = threading.Event()

    def feed() -> None:
        try:
            with open(path, "w") as pipe:
                pipe.write(text)
        except BrokenPipeError:
            pass
        while not done.wait(0.2):
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # no reader waiting
                pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        return action()
    finally:
        done.set()
        feeder.join(30)
        os.unlink(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_read_once_as_in_the_stdlib(references, tmp_path):
    root = issue(name("root"))
    path = str(tmp_path / "pipe.pem")
    for text in (root.pem, root.pem + root.key_pem, "not a certificate\n"):

        def load(module: Any, text: str = text) -> Any:
            return through_a_pipe(path, text, lambda: load_outcome(module, path))

        expected = agreed(references, load)
        assert load(reading("lazy")) == expected, text
        assert not os.path.exists(path)


def test_lazy_and_eager_reading_agree_on_changed_files(tmp_path):
    """Certificates of the system bundle, changed at random in their DER or
    their text: each file loads, or fails, the same read either way."""
    if not os.path.isfile(SYSTEM_BUNDLE):
        pytest.skip("no system CA bundle on this machine")
    texts = system_pem().split("-----END CERTIFICATE-----")
    ders = [
        base64.b64decode("".join(t.split("-----BEGIN CERTIFICATE-----")[1].split()))
        for t in texts
        if "BEGIN" in t
    ]
    rng = random.Random(20261207)
    path = str(tmp_path / "changed.pem")
    lazy_count = 0
    for _ in range(300):
        picked = [bytearray(d) for d in rng.sample(ders, 2)]
        target = picked[0]
        for _ in range(rng.randint(1, 2)):
            i = rng.randrange(len(target))
            target[i] = rng.choice(
                [0x00, 0x80, 0xFF, 0x30, 0x31, 0x13, 0x0C, 0x1E, rng.randrange(256)]
            )
        text = "".join(
            "-----BEGIN CERTIFICATE-----\n"
            + "\n".join(textwrap.wrap(base64.b64encode(bytes(d)).decode(), 64))
            + "\n-----END CERTIFICATE-----\n"
            for d in picked
        )
        if rng.random() < 0.3:
            lines = text.split("\n")
            i = rng.randrange(len(lines))
            lines[i] = lines[i][:-1] + rng.choice(["=", "-", " ", ":", ""])
            text = "\n".join(lines)
        write(path, text)
        results = []
        for lazy in (True, False):
            _trust_store.set_lazy(lazy)
            _trust_store.clear()
            results.append(load_outcome(pyssl, path))
            if (
                lazy
                and results[0][0] == "loaded"
                and _trust_store.is_lazy(kept_source(path))
            ):
                lazy_count += 1
        assert results[0] == results[1], text
    if sys.platform.startswith("linux"):
        assert lazy_count > 50
