"""Store file names and store-item serialisation the way Nix and Guix compute them.

- ``nix_base32``: Nix's base32 (alphabet without e, o, t, u; the digest read from its last
  byte), which Guix uses for the 32 characters of every store file name.
- ``compress_hash``: Nix folds a sha256 into 20 bytes by XOR before encoding it.
- ``nar``: the Nix ARchive serialisation of a store item. Its length is the ``narSize`` of
  the store database and its sha256 the ``hash`` column, as in a real store.
"""

from __future__ import annotations

import hashlib
import re

ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz"
HASH_CHARS = 32
STORE_NAME = re.compile(r"^[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+$")


def nix_base32(data: bytes) -> str:
    """Encode bytes in Nix base32 (as ``guix hash`` prints and store names use)."""
    n = (len(data) * 8 - 1) // 5 + 1
    out = []
    for i in range(n - 1, -1, -1):
        bit = i * 5
        j, k = divmod(bit, 8)
        c = data[j] >> k
        if j + 1 < len(data):
            c |= data[j + 1] << (8 - k)
        out.append(ALPHABET[c & 0x1F])
    return "".join(out)


def compress_hash(digest: bytes, size: int = 20) -> bytes:
    """XOR-fold a digest to ``size`` bytes (Nix's compressHash)."""
    out = bytearray(size)
    for i, b in enumerate(digest):
        out[i % size] ^= b
    return bytes(out)


def store_hash(*parts: str) -> str:
    """The 32-character hash part of a store file name for the given inputs."""
    h = hashlib.sha256("\x00".join(parts).encode()).digest()
    return nix_base32(compress_hash(h))


def valid_name(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9+\-._?=]+", name))


# --- NAR ------------------------------------------------------------------------------------


class NarWriter:
    """Streams a NAR into a sha256 and counts its bytes (nothing is kept in memory)."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.size = 0

    def raw(self, data: bytes) -> None:
        self.sha.update(data)
        self.size += len(data)

    def string(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        self.raw(len(data).to_bytes(8, "little"))
        self.raw(data)
        pad = (-len(data)) % 8
        if pad:
            self.raw(b"\0" * pad)

    def contents(self, length: int, chunks) -> None:
        """A regular file's contents given as an iterable of byte chunks of total ``length``."""
        self.raw(length.to_bytes(8, "little"))
        seen = 0
        for chunk in chunks:
            seen += len(chunk)
            self.raw(chunk)
        if seen != length:
            raise ValueError(f"file contents: expected {length} bytes, got {seen}")
        pad = (-length) % 8
        if pad:
            self.raw(b"\0" * pad)

    @property
    def hash(self) -> str:
        """The store database's ``hash`` column: ``sha256:`` and the digest in base16."""
        return "sha256:" + self.sha.hexdigest()
