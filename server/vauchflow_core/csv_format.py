"""CSV as Vauchflow writes it: RFC 4180 quoting, CRLF line ends, cells neutralised against spreadsheet formula
injection, written in chunks so an export of any size streams in bounded memory; and the limits of an import.

Formula injection: a spreadsheet evaluates a cell that starts with `=`, `+`, `-` or `@` (and, in some, a tab or a
carriage return) as a formula, so a customer id such as `=HYPERLINK(...)` would run in a merchant's spreadsheet.
Every text cell that starts with one of them is written with a leading apostrophe, which spreadsheets show as text
and hide; numbers we write ourselves (amounts, counts) are never neutralised. An import strips the apostrophe
again, so an exported file imports back unchanged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

# The largest CSV import Envoy lets through and the server reads: a million codes of up to 64 characters with CRLF
# line ends fit with room to spare.
MAX_IMPORT_BYTES = 128 * 1024 * 1024
MAX_IMPORT_ROWS = 1_000_000
# An export sends a chunk once this much is written: big enough that framing costs nothing, small enough that the
# first bytes leave at once and memory stays flat.
CHUNK_BYTES = 64 * 1024
CONTENT_TYPE = "text/csv; charset=utf-8"

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_ESCAPE = "'"

Cell = str | int | None


def neutralised(text: str) -> str:
    """The text as a cell a spreadsheet shows as text, never evaluates."""
    return FORMULA_ESCAPE + text if text.startswith(_FORMULA_STARTS) else text


def unneutralised(text: str) -> str:
    """What neutralised() was given: the apostrophe before a formula character is dropped."""
    if text.startswith(FORMULA_ESCAPE) and text[1:2] and text[1:].startswith(_FORMULA_STARTS):
        return text[1:]
    return text


class CsvChunks:
    """Rows in, chunks of CSV bytes out (header row first); None is an empty cell. The caller passes every text
    cell that holds stored data through neutralised() (it knows which columns are text, so the writer needn't
    look at every cell of a million rows)."""

    def __init__(self, header: Sequence[str]):
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self._writer.writerow(header)

    def write(self, rows: Iterable[Sequence[Cell]]) -> None:
        self._writer.writerows(rows)

    def full_chunk(self) -> bytes | None:
        """The bytes written so far when they make a chunk, else None (keep writing)."""
        if self._buffer.tell() < CHUNK_BYTES:
            return None
        return self.rest()

    def rest(self) -> bytes:
        """Everything written and not yet taken (the whole file's end)."""
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode()
