"""CSV out (quoting, formula neutralisation, chunking) and CSV in (BOM, CRLF, headers, refused rows, limits)."""

from __future__ import annotations

import csv
import io

import pytest

from vauchflow_core import csv_format
from vauchflow_core.csv_format import CsvChunks, neutralised, unneutralised
from vauchflow_core.errors import InvalidArgument
from vauchflow_server.code_import import CodeFileReader


def parsed(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


@pytest.mark.parametrize("cell", ["=1+1", "+49 30 1234", "-5", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("x")'])
def test_formula_cells_are_neutralised_and_come_back(cell):
    assert neutralised(cell) == "'" + cell
    assert unneutralised(neutralised(cell)) == cell


@pytest.mark.parametrize("cell", ["", "plain", "'quoted already", "a=b", "'"])
def test_other_cells_are_left_alone(cell):
    assert neutralised(cell) == cell
    assert unneutralised(cell) == cell


def test_chunks_quote_commas_quotes_and_newlines_and_write_none_as_empty():
    chunks = CsvChunks(("a", "b", "c"))
    chunks.write([('x,"y"\nz', -5, neutralised("=cmd")), (None, 0, neutralised("-5"))])
    data = chunks.rest()
    assert data.endswith(b"\r\n") and b"\r\n" in data
    assert parsed(data) == [["a", "b", "c"], ['x,"y"\nz', "-5", "'=cmd"], ["", "0", "'-5"]]


def test_chunks_are_handed_out_only_once_full_and_nothing_is_lost():
    chunks = CsvChunks(("code",))
    out = [chunks.rest()]
    for start in range(0, 20_000, 100):
        chunks.write((f"CODE{i:08d}",) for i in range(start, start + 100))
        chunk = chunks.full_chunk()
        if chunk is not None:
            assert len(chunk) >= csv_format.CHUNK_BYTES
            out.append(chunk)
    out.append(chunks.rest())
    assert len(out) > 3
    rows = parsed(b"".join(out))
    assert rows[0] == ["code"] and [r[0] for r in rows[1:]] == [f"CODE{i:08d}" for i in range(20_000)]


def read_all(data: bytes, chunk_size: int = 7, **limits) -> tuple[list[tuple[int, str]], CodeFileReader]:
    reader = CodeFileReader(**limits)
    rows = []
    for start in range(0, len(data), chunk_size):
        rows += reader.feed(data[start : start + chunk_size])
    rows += reader.finish()
    return rows, reader


def test_bom_crlf_header_and_lowercase_codes_split_across_chunks_anywhere():
    data = "\ufeffcode\r\nsummer-1\r\n\r\n  WINTER_2 \r\n'-LEADING\r\nLAST".encode()
    for size in (1, 2, 3, 5, 64):
        rows, reader = read_all(data, size)
        assert rows == [(2, "SUMMER-1"), (4, "WINTER_2"), (5, "-LEADING"), (6, "LAST")], size
        assert reader.row_count == 4 and reader.errors.count == 0


def test_without_a_header_the_first_column_holds_the_codes():
    rows, _ = read_all(b"ABC,ignored\nDEF\n")
    assert rows == [(1, "ABC"), (2, "DEF")]


def test_a_header_names_the_code_column():
    rows, _ = read_all(b'name,Code\n"Flyer, spring",ABC\nx,"DEF"\n')
    assert rows == [(2, "ABC"), (3, "DEF")]


def test_refused_rows_are_reported_by_line_number_and_reason():
    long_code = "A" * 65
    data = f'code\nGOOD\nBAD CODE\n{long_code}\nÜBER\n"unbalanced\n,\n'.encode() + b"\xff\xfeX\n"
    rows, reader = read_all(data)
    assert rows == [(2, "GOOD")]
    assert [(e.row, e.reason) for e in reader.errors.reported] == [
        (3, "BAD_CHARACTERS"),
        (4, "TOO_LONG"),
        (5, "BAD_CHARACTERS"),
        (6, "MALFORMED_ROW"),
        (7, "EMPTY"),
        (8, "BAD_CHARACTERS"),
    ]
    assert reader.errors.count == 6 and reader.row_count == 7
    assert all(e.message for e in reader.errors.reported)


def test_only_the_first_thousand_refused_rows_are_kept_but_all_are_counted():
    _, reader = read_all(b"bad code\n" * 2_500, chunk_size=4096)
    assert reader.errors.count == 2_500 and len(reader.errors.reported) == 1_000


def test_too_many_rows_or_bytes_are_refused():
    with pytest.raises(InvalidArgument, match="more than 3 rows"):
        read_all(b"A\nB\nC\nD\n", max_rows=3)
    with pytest.raises(InvalidArgument, match="larger than 10 bytes"):
        read_all(b"ABCDEF\nGHIJKL\n", chunk_size=4, max_bytes=10)


def test_a_line_without_end_is_refused_before_it_fills_memory():
    reader = CodeFileReader()
    reader.feed(b"code\nOK-1\n")
    with pytest.raises(InvalidArgument, match="line 3 is longer than 65536 characters"):
        for _ in range(100):
            reader.feed(b"A" * 4096)


def test_nul_and_other_control_characters_are_bad_characters_never_copied():
    rows, reader = read_all(b"OK-1\nNUL\x00CODE\nTAB\tCODE\n\x1b[31mRED\n")
    assert rows == [(1, "OK-1")]
    assert [(e.row, e.reason) for e in reader.errors.reported] == [
        (2, "BAD_CHARACTERS"),
        (3, "BAD_CHARACTERS"),
        (4, "BAD_CHARACTERS"),
    ]
