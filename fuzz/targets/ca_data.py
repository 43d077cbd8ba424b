"""Trust anchors from outside: ``load_verify_locations`` with ``cadata``
(DER bytes or PEM text) or a hostile ``cafile``, then what the context
reports about its store (``cert_store_stats()``, ``get_ca_certs()`` in
both forms, the dictionaries built as ``getpeercert()`` builds them). Each
step is compared with the stdlib on the same input.

The first byte picks the form: 0 DER bytes, 1 PEM text (a ``str``; not
ASCII is a documented TypeError), 2 a file with the rest as content, 3 the
rest split into DER certificates (2-byte length prefixes) and joined.
"""

from __future__ import annotations

from _harness import (
    Finding,
    ascii_text,
    kind,
    outcome,
    pyssl,
    reference,
    run,
    same,
    scratch_file,
    stdlib_ssl,
)
from _layout import Reader


def loaded(module, **where):
    """A client context of ``module`` after load_verify_locations(**where):
    (the outcome of the load, the store as the context reports it)."""
    ctx = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
    # A certificate OpenSSL stored may still fail to decode (SSLError).
    attempt = (
        (lambda action: outcome(action, TypeError)) if module is pyssl else reference
    )
    result = attempt(lambda: ctx.load_verify_locations(**where))
    store = (
        ctx.cert_store_stats(),
        kind(attempt(ctx.get_ca_certs)),
        kind(attempt(lambda: ctx.get_ca_certs(binary_form=True))),
    )
    return result, store


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    form, body = data[0] % 4, data[1:]
    if form == 0:
        where = {"cadata": body}
    elif form == 1:
        where = {
            "cadata": body.decode("utf-8", "replace")
            if data[0] & 0x80
            else ascii_text(body)
        }
    elif form == 2:
        where = {"cafile": scratch_file("ca.pem", body)}
    else:
        reader = Reader(body)
        parts = []
        while reader.at < len(body):
            parts.append(reader.chunk())
        where = {"cadata": b"".join(parts)}
    ours, our_store = loaded(pyssl, **where)
    if stdlib_ssl is None:
        return
    theirs, their_store = loaded(stdlib_ssl, **where)
    same("load_verify_locations", ours, theirs)
    if our_store != their_store:
        raise Finding(
            f"the store after loading: pyssl {our_store!r}, the stdlib {their_store!r}"
        )


if __name__ == "__main__":
    run(TestOneInput)
