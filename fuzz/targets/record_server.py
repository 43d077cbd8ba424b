"""The record layer of a pyssl server fed hostile bytes at every stage of
a conversation with a pyssl client over MemoryBIOs (see ``_records``)."""

from __future__ import annotations

import sys

from _harness import run
from _records import check_unraisable, converse


def TestOneInput(data: bytes) -> None:
    converse(data, "server")


if __name__ == "__main__":
    sys.unraisablehook = check_unraisable
    run(TestOneInput)
