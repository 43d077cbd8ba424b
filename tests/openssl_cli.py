"""The ``openssl`` command-line program as a TLS peer: ``s_server`` and
``s_client`` processes whose output is read line by line."""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
import time
from typing import TYPE_CHECKING

import pytest
from peers import TIMEOUT

if TYPE_CHECKING:
    from cert_files import CertFiles

OPENSSL = shutil.which("openssl")
NO_OPENSSL = "the openssl program is not installed"
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason=NO_OPENSSL)


def openssl_version() -> str:
    """What ``openssl version`` prints."""
    return subprocess.run(
        [OPENSSL or "openssl", "version"], capture_output=True, text=True
    ).stdout.strip()


class OpenSSLProcess:
    """``openssl s_server`` or ``s_client`` with its output read by a thread."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [OPENSSL or "openssl", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.transcript: list[bytes] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(b"")

    def wait_for(self, text: bytes, timeout: float = TIMEOUT) -> bytes:
        """Wait for an output line containing ``text``; return that line."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                line = None
            if line is None or remaining <= 0:
                raise TimeoutError(
                    f"no {text!r} from openssl {self.args}: {b''.join(self.transcript)!r}"
                )
            if line == b"":
                raise EOFError(
                    f"openssl {self.args} ended without {text!r}: {b''.join(self.transcript)!r}"
                )
            self.transcript.append(line)
            if text in line:
                return line

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(TIMEOUT)
        # The reader meets EOF now that the process is gone; closing stdout
        # while it is still in readline() would fail it in its thread.
        self.reader.join(TIMEOUT)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


class OpenSSLPeers:
    """Starts ``openssl s_server`` and ``s_client`` with the test
    certificates on loopback; ``stop()`` ends every process started."""

    def __init__(self, certs: CertFiles) -> None:
        self.certs = certs
        self.processes: list[OpenSSLProcess] = []

    def _start(self, *args: str) -> OpenSSLProcess:
        proc = OpenSSLProcess(list(args))
        self.processes.append(proc)
        return proc

    def s_server(self, *args: str) -> tuple[OpenSSLProcess, int]:
        """``openssl s_server`` on a free loopback port with the server
        certificate, accepting one connection: (process, port)."""
        proc = self._start(
            "s_server",
            "-accept",
            "127.0.0.1:0",
            "-cert",
            self.certs.server_cert,
            "-key",
            self.certs.server_key,
            "-naccept",
            "1",
            *args,
        )
        line = proc.wait_for(b"ACCEPT")
        return proc, int(line.rsplit(b":", 1)[1])

    def s_client(self, port: int, *args: str) -> OpenSSLProcess:
        """``openssl s_client`` against a loopback port, trusting the test CA."""
        return self._start(
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-CAfile",
            self.certs.ca,
            "-servername",
            "localhost",
            *args,
        )

    def stop(self) -> None:
        for proc in self.processes:
            proc.stop()
