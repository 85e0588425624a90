"""Reading a CSV file of codes as it streams in: rows out in bounded memory, each row valid or refused with a reason.

The file is UTF-8 with an optional byte order mark and LF or CRLF line ends, one row per line (codes hold no
commas, quotes or line breaks, so a quoted cell spanning lines can only be a mistake). The first non-blank row is
a header when one of its cells is `code` (any case): that column holds the codes, and any other columns are
ignored. Without a header the first column holds them. Blank lines are skipped. Row numbers are line numbers, so
a merchant finds a refused row in any editor.

Duplicates within the file and codes the tenant already has are found by the database, after the rows are
copied into a staging table (holding a million codes in a Python set would cost ~100 MB).
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass, field

from vauchflow_core import csv_format
from vauchflow_core.errors import InvalidArgument
from vauchflow_server.vouchers import CODE_PATTERN, MAX_CODE_LENGTH, normalize_code

# Reasons a row is refused (ImportRowError.reason).
EMPTY = "EMPTY"
TOO_LONG = "TOO_LONG"
BAD_CHARACTERS = "BAD_CHARACTERS"
MALFORMED_ROW = "MALFORMED_ROW"
DUPLICATE_IN_FILE = "DUPLICATE_IN_FILE"
CODE_TAKEN = "CODE_TAKEN"

# A row holds a code of at most 64 characters and perhaps a few other columns; a longer line is not a code file.
MAX_LINE_CHARACTERS = 64 * 1024
# Refused rows an import reports one by one; the count covers them all.
MAX_REPORTED_ERRORS = 1_000

_MESSAGES = {
    EMPTY: "the code cell is empty",
    TOO_LONG: f"a code has at most {MAX_CODE_LENGTH} characters",
    BAD_CHARACTERS: "a code holds only letters A-Z, digits, '-' and '_'",
    MALFORMED_ROW: "the row is not valid CSV (an unbalanced quote)",
    DUPLICATE_IN_FILE: "the code appears on an earlier row of the file",
    CODE_TAKEN: "the tenant already has a voucher with this code",
}


@dataclass(frozen=True)
class RowError:
    row: int
    reason: str

    @property
    def message(self) -> str:
        return _MESSAGES[self.reason]


@dataclass
class RowErrors:
    """The first MAX_REPORTED_ERRORS refused rows, and how many there were."""

    reported: list[RowError] = field(default_factory=list)
    count: int = 0

    def add(self, row: int, reason: str) -> None:
        self.count += 1
        if len(self.reported) < MAX_REPORTED_ERRORS:
            self.reported.append(RowError(row, reason))


def check_cell(cell: str) -> tuple[str, str | None]:
    """The code a cell holds, normalised, and why it is refused (None: it is valid)."""
    code = normalize_code(csv_format.unneutralised(cell.strip()))
    if not code:
        return code, EMPTY
    if len(code) > MAX_CODE_LENGTH:
        return code, TOO_LONG
    if not CODE_PATTERN.match(code):
        return code, BAD_CHARACTERS
    return code, None


class CodeFileReader:
    """Feed it the file's bytes in chunks of any size; it returns the valid (row, code) pairs of the complete
    lines so far and records refused rows in `errors`."""

    def __init__(self, max_bytes: int = csv_format.MAX_IMPORT_BYTES, max_rows: int = csv_format.MAX_IMPORT_ROWS):
        # utf-8-sig drops a leading byte order mark; bytes that are not UTF-8 become U+FFFD and so BAD_CHARACTERS.
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self._pending = ""
        self._line = 0
        self._column: int | None = None
        self._max_bytes = max_bytes
        self._max_rows = max_rows
        self.bytes_read = 0
        self.row_count = 0
        self.errors = RowErrors()

    def feed(self, data: bytes) -> list[tuple[int, str]]:
        self.bytes_read += len(data)
        if self.bytes_read > self._max_bytes:
            raise InvalidArgument.single("csv", f"the file is larger than {self._max_bytes} bytes")
        text = self._pending + self._decoder.decode(data)
        lines = text.split("\n")
        self._pending = lines.pop()
        if len(self._pending) > MAX_LINE_CHARACTERS:
            # Held until its end arrives: a file without line breaks must not fill the server's memory.
            raise InvalidArgument.single(
                "csv", f"line {self._line + len(lines) + 1} is longer than {MAX_LINE_CHARACTERS} characters"
            )
        return self._rows(lines)

    def finish(self) -> list[tuple[int, str]]:
        text = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return self._rows([text] if text else [])

    def _rows(self, lines: list[str]) -> list[tuple[int, str]]:
        valid: list[tuple[int, str]] = []
        match = CODE_PATTERN.match
        for line in lines:
            self._line += 1
            # The common row, a bare valid code, takes the short way: strip (which drops a CR too) and match.
            code = line.strip().upper()
            if not code:
                continue
            if self._column == 0 and match(code):
                self._count_row()
                valid.append((self._line, code))
            else:
                self._parsed_row(line.removesuffix("\r"), valid)
        return valid

    def _count_row(self) -> None:
        self.row_count += 1
        if self.row_count > self._max_rows:
            raise InvalidArgument.single("csv", f"the file has more than {self._max_rows} rows; split it")

    def _parsed_row(self, line: str, valid: list[tuple[int, str]]) -> None:
        """A row that needs CSV parsing: the first (a header?), one with quotes or commas, or a refused one."""
        cells: list[str] | None
        if '"' in line or "," in line:
            try:
                cells = next(csv.reader([line], strict=True))
            except csv.Error:
                cells = None
        else:
            cells = [line]
        if self._column is None:
            self._column = _code_column(cells or [])
            if self._column is not None:
                return  # the header row
            self._column = 0
        self._count_row()
        if cells is None:
            self.errors.add(self._line, MALFORMED_ROW)
            return
        code, problem = check_cell(cells[self._column] if self._column < len(cells) else "")
        if problem is not None:
            self.errors.add(self._line, problem)
        else:
            valid.append((self._line, code))


def _code_column(cells: list[str]) -> int | None:
    for index, cell in enumerate(cells):
        if cell.strip().lower() == "code":
            return index
    return None
