"""Reads a context's trust store while other threads change it, for a set
time, in a process of its own (a crash must not end the test run):

    python cert_store_driver.py CAPATH CAFILE SECONDS SERVER_CHAIN...

Two threads make handshakes over memory BIOs between client contexts that
trust the CAs of the hashed directory CAPATH and servers whose certificates
those CAs issued (SERVER_CHAIN, one per CA): each handshake makes OpenSSL
look its CA up in the directory and add it to the client context's store.
A third thread loads CAFILE (the same CAs) into new contexts. The main
thread meanwhile calls cert_store_stats() and get_ca_certs() on the
contexts being filled, and starts over with new ones once they are full.
Prints ``ok`` and the counts when every result was consistent."""

from __future__ import annotations

import sys
import threading
import time

from peers import BioPair

import pyssl


def main() -> None:
    capath, cafile, seconds, *chains = sys.argv[1:]
    total = len(chains)
    servers = []
    for chain in chains:
        server = pyssl.SSLContext(pyssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(chain)
        servers.append(server)

    def capath_context() -> pyssl.SSLContext:
        ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(capath=capath)
        return ctx

    current = {
        "capath": capath_context(),
        "cafile": pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT),
    }
    counts = {"handshakes": 0, "loads": 0, "reads": 0, "stores": 0}
    errors: list[BaseException] = []
    deadline = time.monotonic() + float(seconds)

    def running() -> bool:
        return not errors and time.monotonic() < deadline

    def handshakes(first: int) -> None:
        while running():
            ctx = current["capath"]
            for server in servers[first::2]:
                BioPair(ctx, server).handshake()
                counts["handshakes"] += 1

    def loads() -> None:
        while running():
            ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
            current["cafile"] = ctx
            ctx.load_verify_locations(cafile=cafile)
            counts["loads"] += 1

    def guarded(function, *args) -> None:
        try:
            function(*args)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=guarded, args=args)
        for args in ((handshakes, 0), (handshakes, 1), (loads,))
    ]
    for thread in threads:
        thread.start()
    try:
        while running():
            for name in ("capath", "cafile"):
                ctx = current[name]
                stats = ctx.cert_store_stats()
                cas = ctx.get_ca_certs(binary_form=True)
                counts["reads"] += 1
                # Only CAs are loaded: every certificate counts as one, and
                # get_ca_certs() (read after) finds at least as many.
                assert (
                    stats["crl"] == 0 and stats["x509"] == stats["x509_ca"] <= total
                ), stats
                assert stats["x509"] <= len(cas) <= total, (stats, len(cas))
                assert all(der[:1] == b"\x30" for der in cas)
                if name == "capath" and len(cas) == total:
                    current["capath"] = capath_context()
                    counts["stores"] += 1
    except BaseException as exc:
        errors.append(exc)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    full = current["cafile"]
    full.load_verify_locations(cafile=cafile)
    assert full.cert_store_stats() == {"x509": total, "crl": 0, "x509_ca": total}
    print("ok", " ".join(f"{name}={count}" for name, count in counts.items()))


if __name__ == "__main__":
    main()
