"""Write the seed corpus of every fuzz target into ``fuzz/corpus/<target>/``.

    python fuzz/make_corpus.py

The seeds are small and public: certificates made here by trustme and the
``openssl`` program (their keys are thrown away: no private key is ever
written to the corpus), TLS flights recorded from a pyssl client and
server talking over MemoryBIOs, and a few strings for the API targets.
Each file is laid out as its target reads it (see the targets'
docstrings and ``targets/_layout.py``).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "targets"))

import trustme  # noqa: E402
from _layout import chunk  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.x509.oid import NameOID, ObjectIdentifier  # noqa: E402

import pyssl  # noqa: E402

CORPUS = HERE / "corpus"


def der_of(pem: bytes) -> bytes:
    return base64.b64decode(b"".join(pem.split(b"-----")[2].split()))


def openssl_certificates() -> dict[str, bytes]:
    """PEM certificates the openssl program makes, with the extensions the
    decoder has to read; their keys stay in a directory removed at once."""
    made = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, key_args, extensions in [
            ("rsa-aia-crldp", ["-newkey", "rsa:2048"], [
                "subjectAltName=DNS:example.org,IP:192.0.2.1,IP:2001:db8::1,email:a@example.org,"
                "URI:https://example.org/,RID:1.2.3.4,dirName:dir_sect",
                "authorityInfoAccess=OCSP;URI:http://ocsp.example.org/,"
                "caIssuers;URI:http://ca.example.org/ca.der",
                "crlDistributionPoints=URI:http://crl.example.org/a.crl,URI:ldap://crl.example.org/",
            ]),
            ("ec-minimal", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], []),
        ]:  # fmt: skip
            config = Path(tmp) / "openssl.cnf"
            config.write_text(
                "[req]\ndistinguished_name=dn\n[dn]\n[dir_sect]\nCN=directory name\nO=pyssl\n"
            )
            args = ["openssl", "req", "-x509", "-nodes", "-days", "30", "-config", str(config),
                    "-subj", "/C=DE/O=pyssl fuzz/CN=openssl.example/emailAddress=x@example.org",
                    "-keyout", str(Path(tmp) / "key.pem"), *key_args]  # fmt: skip
            for extension in extensions:
                args += ["-addext", extension]
            made[name] = subprocess.run(args, capture_output=True, check=True).stdout
    return made


def trustme_certificates() -> dict[str, bytes]:
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1", "::1", "xn--bcher-kva.example",
                         common_name="trustme leaf")  # fmt: skip
    rsa_ca = trustme.CA(key_type=trustme.KeyType.RSA)
    rsa_leaf = rsa_ca.issue_cert("rsa.example", key_type=trustme.KeyType.RSA)
    return {
        "trustme-ca": ca.cert_pem.bytes(),
        "trustme-leaf": leaf.cert_chain_pems[0].bytes(),
        "trustme-rsa-ca": rsa_ca.cert_pem.bytes(),
        "trustme-rsa-leaf": rsa_leaf.cert_chain_pems[0].bytes(),
    }


def name_field(attributes: list[tuple[int, int, bytes]]) -> bytes:
    """A name as certificates.read_name() reads it: (oid and flags, string
    type, value) per attribute."""
    out = bytes([len(attributes)])
    for shape, string_type, value in attributes:
        out += bytes([shape, string_type]) + chunk(value)
    return out


def structured_seeds() -> dict[str, bytes]:
    """Mode 2 of the certificates target: names, dates, serial and raw
    extension values."""

    def encoded(extension: x509.ExtensionType) -> bytes:
        return extension.public_bytes()

    san = encoded(x509.SubjectAlternativeName([
        x509.DNSName("a.example"), x509.RFC822Name("user@example.org"),
        x509.UniformResourceIdentifier("https://example.org/x"),
        x509.IPAddress(__import__("ipaddress").ip_address("2001:db8::2")),
        x509.RegisteredID(ObjectIdentifier("1.2.3.4")),
        x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dir")])),
        x509.OtherName(ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), b"\x0c\x03u@x"),
    ]))  # fmt: skip
    aia = encoded(x509.AuthorityInformationAccess([
        x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.OCSP,
                               x509.UniformResourceIdentifier("http://ocsp.example/")),
        x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                               x509.UniformResourceIdentifier("http://ca.example/ca.der")),
    ]))  # fmt: skip
    crldp = encoded(x509.CRLDistributionPoints([
        x509.DistributionPoint([x509.UniformResourceIdentifier("http://crl.example/1.crl")],
                               None, None, None),
    ]))  # fmt: skip
    # GeneralNames the cryptography builder does not write: x400Address
    # [3], ediPartyName [5], and a 5-byte IP address.
    odd_san = b"0\x15\xa3\x04\x30\x02\x05\x00\xa5\x06\xa1\x04\x0c\x02ab\x87\x05\x01\x02\x03\x04\x05"
    common = name_field([(0, 0, b"structured.example"), (2 | 0x80, 3, b"Unicode \xe2\x98\x83"),
                         (5, 2, b"user@example.org")])  # fmt: skip
    issuer = name_field([(0, 1, b"Issuer")])
    times = (1_000_000_000).to_bytes(5, "big") + (3_000_000_000).to_bytes(5, "big")
    seeds = {}
    for label, extensions in [
        ("san", [(0, san)]), ("aia", [(1, aia)]), ("crldp", [(2, crldp)]),
        ("odd-general-names", [(0, odd_san), (3, odd_san)]),
        ("all-critical", [(0x80, san), (0x81, aia), (0x82, crldp)]),
        ("unknown-critical-and-bad-constraints", [(0x85, b"\x05\x00"), (4, b"\x30\x03\x01\x01")]),
    ]:  # fmt: skip
        body = common + issuer + times + chunk(b"\x01\x02\x03")
        body += bytes([len(extensions)])
        for shape, value in extensions:
            body += bytes([shape]) + chunk(value)
        seeds[f"structured-{label}"] = b"\x02" + body
    return seeds


def recorded_flights() -> dict[str, list[bytes]]:
    """The flights of a pyssl conversation over MemoryBIOs, per TLS
    version: what the client sent, in order, and what the server sent."""
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    flights = {}
    with tempfile.TemporaryDirectory() as tmp:
        chain = Path(tmp) / "chain.pem"
        chain.write_bytes(leaf.private_key_and_cert_chain_pem.bytes())
        for version in ("TLSv1_3", "TLSv1_2"):
            server_ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_SERVER)
            server_ctx.load_cert_chain(str(chain))
            client_ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
            client_ctx.load_verify_locations(cadata=ca.cert_pem.bytes().decode())
            client_ctx.maximum_version = getattr(pyssl.TLSVersion, version)
            bios = [pyssl.MemoryBIO() for _ in range(4)]
            client = client_ctx.wrap_bio(bios[0], bios[1], server_hostname="localhost")
            server = server_ctx.wrap_bio(bios[2], bios[3], server_side=True)
            sent: dict[str, list[bytes]] = {"client": [], "server": []}
            for _ in range(6):
                for obj in (client, server):
                    try:
                        obj.do_handshake()
                    except pyssl.SSLWantReadError:
                        pass
                for side, source, target in (
                    ("client", bios[1], bios[2]),
                    ("server", bios[3], bios[0]),
                ):
                    data = source.read()
                    if data:
                        sent[side].append(data)
                        target.write(data)
            client.write(b"GET / HTTP/1.1\r\n\r\n")
            sent["client"].append(bios[1].read())
            flights[version] = sent
    return flights


def record_seeds(fuzzed: str, flights: dict) -> dict[str, bytes]:
    """Seeds for record_<fuzzed>: (flags, stage, mode, offset, payload)."""
    peer = "server" if fuzzed == "client" else "client"
    seeds = {}
    for flags, version in ((0, "TLSv1_3"), (1, "TLSv1_2")):
        recorded = flights[version][peer]
        for stage, flight in enumerate(recorded[:3]):
            # The flight as recorded, in place of the live one (mode 0).
            seeds[f"{version}-replace-stage{stage}"] = (
                bytes([flags, stage, 0, 0, 0]) + flight
            )
        for mode in range(1, 8):
            seeds[f"{version}-mode{mode}-stage0"] = bytes(
                [flags, 0, mode, 0, 5, 0x41, 0x42]
            )
        for stage in range(1, 7):
            seeds[f"{version}-flip-stage{stage}"] = bytes([flags, stage, 1, 0, 3, 0x80])
    # Client certificates, resumption, ALPN, SNI and message callbacks.
    for flags in (2, 3, 4, 5, 8, 9, 16, 17, 32, 33, 63):
        seeds[f"flags{flags}-flip-stage1"] = bytes([flags, 1, 1, 0, 9, 0x01])
    return seeds


def write(target: str, seeds: dict[str, bytes]) -> None:
    folder = CORPUS / target
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, data in seeds.items():
        (folder / name).write_bytes(data)
    print(f"{target}: {len(seeds)} seeds, {sum(map(len, seeds.values())):,} bytes")


def main() -> None:
    pems = {**trustme_certificates(), **openssl_certificates()}
    certificates = {}
    for name, pem in pems.items():
        certificates[f"der-{name}"] = b"\x00" + der_of(pem)
        certificates[f"pem-{name}"] = b"\x01" + pem
    certificates.update(structured_seeds())
    certificates["pem-two-blocks"] = b"\x01" + pems["trustme-ca"] + pems["ec-minimal"]
    write("certificates", certificates)

    ca_data = {}
    for name in ("trustme-ca", "trustme-rsa-ca", "ec-minimal"):
        ca_data[f"der-{name}"] = b"\x00" + der_of(pems[name])
        ca_data[f"pem-{name}"] = b"\x01" + pems[name]
        ca_data[f"file-{name}"] = b"\x02" + pems[name]
    ca_data["der-pieces"] = (
        b"\x03" + chunk(der_of(pems["trustme-ca"])) + chunk(der_of(pems["ec-minimal"]))
    )
    ca_data["pem-with-text"] = (
        b"\x01subject=ca\n" + pems["trustme-ca"] + b"trailing text\n"
    )
    write("ca_data", ca_data)

    # PEM armour around no key at all: the corpus holds no private key.
    fake_key = b"-----BEGIN PRIVATE KEY-----\nbm8ga2V5\n-----END PRIVATE KEY-----\n"
    cert_chain = {
        "cert-only": b"\x00" + pems["trustme-leaf"],
        "chain-of-two": b"\x00" + pems["trustme-leaf"] + pems["trustme-ca"],
        "key-truncated": b"\x01" + fake_key,
        "key-encrypted-header": b"\x01-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        "cert-and-garbage-key": b"\x02"
        + chunk(pems["ec-minimal"])
        + chunk(b"not a key"),
    }
    for form in range(8):
        cert_chain[f"password-form{form}"] = bytes([0x03, form]) + chunk(
            b"fuzz password"
        )
        cert_chain[f"password-form{form}-traditional"] = bytes([0x83, form]) + chunk(
            b"wrong"
        )
    cert_chain["password-too-long"] = bytes([0x03, 1]) + chunk(b"p" * 1100)
    # HMAC pads the password with zero bytes: these open the PKCS#8 key
    # (PBKDF2), not the traditional one.
    cert_chain["password-zero-padded"] = bytes([0x03, 1]) + chunk(b"fuzz password\0\0")
    cert_chain["password-zero-padded-traditional"] = bytes([0x83, 1]) + chunk(
        b"fuzz password\0\0"
    )
    write("cert_chain", cert_chain)

    flights = recorded_flights()
    write("record_server", record_seeds("server", flights))
    write("record_client", record_seeds("client", flights))

    def protocols(items: list[tuple[int, bytes]]) -> bytes:
        return bytes([len(items)]) + b"".join(
            bytes([form]) + chunk(value) for form, value in items
        )

    write("protocol_lists", {
        "alpn-http": b"\x00" + protocols([(0, b"h2"), (0, b"http/1.1")]) + protocols([(0, b"http/1.1")]),
        "alpn-bytes": b"\x00" + protocols([(1, b"h2")]) + protocols([(2, b"h2")]),
        "alpn-no-overlap": b"\x02" + protocols([(0, b"spdy/3")]) + protocols([(0, b"h2")]),
        "alpn-long": b"\x00" + protocols([(0, b"x" * 255)]) + protocols([(0, b"x" * 256)]),
        "npn-tls12": b"\x03" + protocols([(0, b"h2"), (0, b"http/1.1")]) + protocols([(0, b"http/1.1")]),
        "npn-empty-client": b"\x03" + protocols([]) + protocols([(0, b"h2")]),
    })  # fmt: skip
    write("server_names", {
        "localhost": b"\x01localhost",
        "address": b"\x01127.0.0.1",
        "ipv6": b"\x01::1",
        # OpenSSL's parser reads 127.0.0.1 and stops at the tab; pyssl takes
        # the name as a host name, which the certificate does not carry.
        "address-and-more": b"\x01127.0.0.1\tO",
        "idn": "\x01bücher.example".encode(),
        "a-label-bytes": b"\x03xn--bcher-kva.example",
        "upper-trailing-dot": b"\x09LOCALHOST.",
        "wrong-host": b"\x01elsewhere.example",
        "no-check": b"\x00elsewhere.example",
        "leading-dot": b"\x01.localhost",
        "nul": b"\x01local\x00host",
    })  # fmt: skip
    write("cipher_strings", {
        "aes-gcm": b"\x00ECDHE+AESGCM:!aNULL",
        "seclevel0": b"\x00DEFAULT:@SECLEVEL=0",
        "chacha-bytes": b"\x02CHACHA20",
        "nothing": b"\x00!ALL",
        "curve": b"\x01prime256v1",
        "curve-bytes": b"\x03secp384r1",
        "no-handshake": b"\x04ALL:!ECDSA:@STRENGTH",
    })  # fmt: skip


if __name__ == "__main__":
    main()
