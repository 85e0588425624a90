"""Generated campaign codes, as pure functions: what a valid pattern is, how many codes it allows, and drawing
codes from it with a CSPRNG.

A pattern is `prefix` + `pattern` + `suffix`; in the pattern "#" is a digit and "?" a character of the charset,
anything else stays as it is. A pattern must allow at least ten times as many codes as are asked for: a space
barely larger than the codes in it lets anyone guess valid codes (and the draws would mostly collide).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from vauchflow_core.errors import Violations
from vauchflow_server.vouchers import CODE_PATTERN, MAX_CODE_LENGTH

DIGIT = "#"
CHARSET_CHARACTER = "?"
DIGITS = "0123456789"
DEFAULT_PATTERN = "????-????"
# No 0/O or 1/I: codes get read aloud and typed in.
DEFAULT_CHARSET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
MAX_COUNT = 1_000_000
# The space a pattern allows must be at least this many times the count asked for.
MIN_SPACE_FACTOR = 10


@dataclass(frozen=True)
class CodePattern:
    pattern: str = DEFAULT_PATTERN
    charset: str = DEFAULT_CHARSET
    prefix: str = ""
    suffix: str = ""

    @property
    def template(self) -> str:
        return self.prefix + self.pattern + self.suffix


def normalized(pattern: CodePattern) -> CodePattern:
    """Codes are case-insensitive (stored upper case), so the pattern is too; empty fields take the defaults."""
    return CodePattern(
        pattern=(pattern.pattern or DEFAULT_PATTERN).upper(),
        charset="".join(dict.fromkeys((pattern.charset or DEFAULT_CHARSET).upper())),  # duplicates dropped
        prefix=pattern.prefix.upper(),
        suffix=pattern.suffix.upper(),
    )


def space(pattern: CodePattern) -> int:
    """How many different codes the pattern allows."""
    template = pattern.template
    return 10 ** template.count(DIGIT) * len(pattern.charset) ** template.count(CHARSET_CHARACTER)


def check_generation(pattern: CodePattern, count: int, violations: Violations) -> None:
    """Adds a violation for everything wrong with generating `count` codes from `pattern` (normalized)."""
    if not 1 <= count <= MAX_COUNT:
        violations.add("count", f"must be between 1 and {MAX_COUNT:,}")
    if not pattern.charset or any(c not in DIGITS and not "A" <= c <= "Z" for c in pattern.charset):
        violations.add("code_pattern.charset", "must be characters of A-Z and 0-9")
    for name in ("prefix", "suffix"):
        value = getattr(pattern, name)
        if DIGIT in value or CHARSET_CHARACTER in value:
            violations.add(f"code_pattern.{name}", "is kept as it is: it cannot hold '#' or '?'")
    if DIGIT not in pattern.pattern and CHARSET_CHARACTER not in pattern.pattern:
        violations.add("code_pattern.pattern", "needs at least one '#' (a digit) or '?' (a charset character)")
        return
    template = pattern.template
    example = template.replace(DIGIT, "0").replace(CHARSET_CHARACTER, "A")
    if len(template) > MAX_CODE_LENGTH:
        violations.add("code_pattern.pattern", f"codes would be longer than {MAX_CODE_LENGTH} characters")
    elif not CODE_PATTERN.match(example):
        violations.add("code_pattern.pattern", "codes may hold only A-Z, 0-9, '-' and '_' besides '#' and '?'")
    elif 1 <= count <= MAX_COUNT and space(pattern) < MIN_SPACE_FACTOR * count:
        violations.add(
            "code_pattern.pattern",
            f"allows {space(pattern):,} codes, fewer than {MIN_SPACE_FACTOR} times the {count:,} asked for:"
            " such codes are easy to guess; add '#' or '?' positions",
        )


class CodeDrawer:
    """Draws codes from a pattern: every "#" and "?" independently and uniformly, from os.urandom (the CSPRNG
    behind `secrets`)."""

    def __init__(self, pattern: CodePattern):
        template = pattern.template
        # The template as runs: ("literal", text) or (alphabet, length).
        self._runs: list[tuple[str | None, str, int]] = []
        i = 0
        while i < len(template):
            char = template[i]
            j = i
            while j < len(template) and template[j] == char and char in (DIGIT, CHARSET_CHARACTER):
                j += 1
            if char == DIGIT:
                self._runs.append((DIGITS, "", j - i))
            elif char == CHARSET_CHARACTER:
                self._runs.append((pattern.charset, "", j - i))
            else:
                j = i + 1
                self._runs.append((None, char, 1))
            i = j
        self._tables = {alphabet: _uniform_table(alphabet) for alphabet, _, _ in self._runs if alphabet}

    def draw(self, count: int) -> list[str]:
        """`count` codes (not necessarily distinct)."""
        columns: list[list[str]] = []
        literal = ""
        for alphabet, text, length in self._runs:
            if alphabet is None:
                literal += text
                continue
            if literal:
                columns.append([literal] * count)
                literal = ""
            stream = self._characters(alphabet, count * length)
            columns.append([stream[k : k + length] for k in range(0, count * length, length)])
        if literal:
            columns.append([literal] * count)
        return ["".join(parts) for parts in zip(*columns, strict=True)]

    def _characters(self, alphabet: str, needed: int) -> str:
        """`needed` characters of the alphabet, each uniform: random bytes mapped through a table that drops the
        bytes past the largest multiple of the alphabet's size (rejection sampling, so no character is favoured)."""
        table, rejected = self._tables[alphabet]
        out = bytearray()
        while len(out) < needed:
            # Enough bytes for the rest on average, plus a margin for the rejected ones.
            out += os.urandom((needed - len(out)) * 5 // 4 + 16).translate(table, rejected)
        return out[:needed].decode("ascii")


def _uniform_table(alphabet: str) -> tuple[bytes, bytes]:
    size = len(alphabet)
    limit = 256 - 256 % size
    table = bytes(ord(alphabet[b % size]) if b < limit else 0 for b in range(256))
    return table, bytes(range(limit, 256))
