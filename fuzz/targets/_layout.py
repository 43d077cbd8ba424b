"""The layout of structured fuzz inputs, shared by the targets that read
them and ``fuzz/make_corpus.py``, which writes the seeds (no atheris
needed here)."""

from __future__ import annotations

from typing import Any


class Reader:
    """Reads a fuzz input as a sequence of fields. Running out of input
    gives zeros and empty strings, so every input means something;
    ``fuzz/make_corpus.py`` writes its seeds in the same layout."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def byte(self) -> int:
        if self.at >= len(self.data):
            return 0
        self.at += 1
        return self.data[self.at - 1]

    def number(self, size: int = 2) -> int:
        """A big-endian unsigned number of ``size`` bytes."""
        return int.from_bytes(bytes(self.byte() for _ in range(size)), "big")

    def choice(self, options: Any) -> Any:
        return options[self.byte() % len(options)]

    def chunk(self) -> bytes:
        """Bytes prefixed with their 2-byte length."""
        size = self.number()
        piece = self.data[self.at : self.at + size]
        self.at += len(piece)
        return piece

    def rest(self) -> bytes:
        piece = self.data[self.at :]
        self.at = len(self.data)
        return piece


def chunk(data: bytes) -> bytes:
    """``data`` as Reader.chunk() reads it."""
    return len(data).to_bytes(2, "big") + data
