"""Backups at rest: files encrypted with AES-256-GCM in 1 MiB chunks, so files of any size stream through memory.

Layout: MAGIC, a random 16-byte file id, then chunks of (12-byte random nonce, 4-byte ciphertext length,
ciphertext with tag). Each chunk's associated data binds the file id, the file's name in the repository, the chunk's
index and whether it is the last: a chunk moved to another file or position, a file renamed to another's name, or a
file cut short after a whole chunk all fail to decrypt rather than restore something wrong.
"""

from __future__ import annotations

import os
import secrets
import struct
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"VFBACKUP-AESGCM-1\n"
CHUNK_BYTES = 1 << 20
_NONCE_BYTES = 12
_FILE_ID_BYTES = 16
_LENGTH = struct.Struct(">I")


class DecryptionFailed(Exception):
    """A file is not an encrypted backup file, was encrypted with another key, or was changed or cut short."""


def _associated_data(file_id: bytes, name: str, index: int, last: bool) -> bytes:
    return b"%s|%s|%d|%d" % (file_id, name.encode(), index, int(last))


def encrypt_file(key: bytes, source: Path, destination: Path, name: str) -> None:
    """Writes source encrypted to destination (fsynced); name is the file's name in the repository."""
    cipher = AESGCM(key)
    file_id = secrets.token_bytes(_FILE_ID_BYTES)
    with source.open("rb") as plain, destination.open("wb") as sealed:
        sealed.write(MAGIC + file_id)
        index = 0
        chunk = plain.read(CHUNK_BYTES)
        while True:
            following = plain.read(CHUNK_BYTES)
            last = not following
            nonce = secrets.token_bytes(_NONCE_BYTES)
            ciphertext = cipher.encrypt(nonce, chunk, _associated_data(file_id, name, index, last))
            sealed.write(nonce + _LENGTH.pack(len(ciphertext)) + ciphertext)
            if last:
                break
            chunk, index = following, index + 1
        sealed.flush()
        os.fsync(sealed.fileno())


def decrypt_file(key: bytes, source: Path, destination: Path, name: str) -> None:
    """Writes source's plaintext to destination; raises DecryptionFailed (destination then holds no valid data)."""
    with source.open("rb") as sealed, destination.open("wb") as plain:
        _decrypt_stream(AESGCM(key), sealed, plain, name, str(source))


def _decrypt_stream(cipher: AESGCM, sealed: BinaryIO, plain: BinaryIO, name: str, shown: str) -> None:
    header = sealed.read(len(MAGIC) + _FILE_ID_BYTES)
    if len(header) != len(MAGIC) + _FILE_ID_BYTES or not header.startswith(MAGIC):
        raise DecryptionFailed(f"{shown} is not an encrypted backup file")
    file_id = header[len(MAGIC) :]
    index = 0
    while True:
        prefix = sealed.read(_NONCE_BYTES + _LENGTH.size)
        if len(prefix) != _NONCE_BYTES + _LENGTH.size:
            raise DecryptionFailed(f"{shown} is cut short (chunk {index} missing)")
        nonce, (length,) = prefix[:_NONCE_BYTES], _LENGTH.unpack(prefix[_NONCE_BYTES:])
        if length > CHUNK_BYTES + 16:
            raise DecryptionFailed(f"{shown} is damaged (chunk {index} claims {length} bytes)")
        ciphertext = sealed.read(length)
        if len(ciphertext) != length:
            raise DecryptionFailed(f"{shown} is cut short (chunk {index} incomplete)")
        # Whether this chunk is the last is not stored: it is the one both the data and its tag say is last.
        for last in (False, True):
            try:
                chunk = cipher.decrypt(nonce, ciphertext, _associated_data(file_id, name, index, last))
            except InvalidTag:
                continue
            plain.write(chunk)
            break
        else:
            raise DecryptionFailed(f"{shown} does not decrypt with this key (changed, renamed, or another key)")
        if last:
            if sealed.read(1):
                raise DecryptionFailed(f"{shown} has data after its last chunk")
            return
        index += 1
