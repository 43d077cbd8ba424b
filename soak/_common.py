"""What the soak scripts share: credentials made for the run, the
measurements they print, and re-running under ``python -X dev`` with
faulthandler on."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme

PASSWORD = "soak password"


@dataclass(frozen=True)
class Files:
    ca: str
    chain: str  # server key and certificate (localhost, 127.0.0.1)
    cert: str
    encrypted_key: str  # the server key encrypted with PASSWORD
    other_chain: str  # another certificate for the same names (SNI switch)


def make_files(directory: str) -> Files:
    """Certificates for this run, written under ``directory`` (removed by
    the caller): nothing is kept."""
    from cryptography.hazmat.primitives import serialization

    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1", "other.example")
    other = ca.issue_cert(
        "localhost", "127.0.0.1", "other.example", common_name="other"
    )
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    )
    base = Path(directory)

    def write(name: str, data: bytes) -> str:
        (base / name).write_bytes(data)
        return str(base / name)

    return Files(
        ca=write("ca.pem", ca.cert_pem.bytes()),
        chain=write("chain.pem", leaf.private_key_and_cert_chain_pem.bytes()),
        cert=write("cert.pem", leaf.cert_chain_pems[0].bytes()),
        encrypted_key=write("key-encrypted.pem", encrypted),
        other_chain=write("other.pem", other.private_key_and_cert_chain_pem.bytes()),
    )


def scratch_directory() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="pyssl-soak-")


def rss_kib() -> int:
    """Resident memory of this process, KiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def settle() -> None:
    """Collect cycles, so that measurements see only what is really kept."""
    for _ in range(3):
        gc.collect()


def dev_mode(argv: list[str]) -> None:
    """Unless this already is that run: run the script again under
    ``python -X dev -X faulthandler`` and exit with its status, saying so
    when it died of a signal (a crash: faulthandler has printed where)."""
    if os.environ.get("PYSSL_SOAK_CHILD"):
        return
    env = dict(os.environ, PYSSL_SOAK_CHILD="1")
    status = subprocess.call(
        [sys.executable, "-X", "dev", "-X", "faulthandler", *argv], env=env
    )
    if status < 0:
        print(
            f"CRASH: the soak died of signal {signal.Signals(-status).name}",
            file=sys.stderr,
        )
        sys.exit(1)
    sys.exit(status)
