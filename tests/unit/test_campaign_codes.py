"""Generated campaign codes: the pattern rules, the space a pattern allows, and uniform draws from a CSPRNG."""

from __future__ import annotations

import math
import re
from collections import Counter

import pytest

from vauchflow_core.errors import InvalidArgument, Violations
from vauchflow_server.campaign_codes import (
    DEFAULT_CHARSET,
    CodeDrawer,
    CodePattern,
    check_generation,
    normalized,
    space,
)


def violations_of(pattern: CodePattern, count: int) -> dict[str, str]:
    violations = Violations()
    check_generation(normalized(pattern), count, violations)
    try:
        violations.raise_if_any()
    except InvalidArgument as error:
        return {v.field: v.description for v in error.violations}
    return {}


def test_the_space_counts_digits_and_charset_characters():
    assert space(normalized(CodePattern(pattern="SUMMER-####-????"))) == 10**4 * 32**4
    assert space(normalized(CodePattern(pattern="??", charset="AB"))) == 4
    # Prefix and suffix are literal: they add nothing.
    assert space(normalized(CodePattern(pattern="##", prefix="X-", suffix="-Y"))) == 100


@pytest.mark.parametrize(("count", "refused"), [(10, False), (11, True)])
def test_a_space_under_ten_times_the_count_is_refused(count: int, refused: bool):
    found = violations_of(CodePattern(pattern="##"), count)
    assert ("code_pattern.pattern" in found) is refused
    if refused:
        assert "100 codes" in found["code_pattern.pattern"] and "guess" in found["code_pattern.pattern"]


@pytest.mark.parametrize(
    ("pattern", "field"),
    [
        (CodePattern(pattern="SUMMER"), "code_pattern.pattern"),  # nothing drawn
        (CodePattern(pattern="#!?"), "code_pattern.pattern"),  # not a code character
        (CodePattern(pattern="#" * 65), "code_pattern.pattern"),  # too long
        (CodePattern(pattern="????", charset="ab$"), "code_pattern.charset"),
        (CodePattern(pattern="????", prefix="A#"), "code_pattern.prefix"),
    ],
)
def test_bad_patterns_name_the_field(pattern: CodePattern, field: str):
    assert field in violations_of(pattern, 1)


@pytest.mark.parametrize("count", [0, 1_000_001])
def test_the_count_is_bounded(count: int):
    assert "count" in violations_of(CodePattern(pattern="????-????-????"), count)


def test_patterns_are_case_insensitive_and_default_sensibly():
    pattern = normalized(CodePattern(pattern="", charset="", prefix="summer-"))
    assert (pattern.pattern, pattern.charset, pattern.prefix) == ("????-????", DEFAULT_CHARSET, "SUMMER-")
    assert normalized(CodePattern(pattern="??", charset="aAbB")).charset == "AB"


def test_drawn_codes_follow_the_pattern():
    codes = CodeDrawer(normalized(CodePattern(pattern="####-??", charset="XYZ", prefix="P-", suffix="-S"))).draw(500)
    assert len(codes) == 500
    assert all(re.fullmatch(r"P-[0-9]{4}-[XYZ]{2}-S", code) for code in codes)


@pytest.mark.parametrize("alphabet_size", [10, 32, 7])
def test_every_character_is_drawn_uniformly(alphabet_size: int):
    charset = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"[:alphabet_size]
    codes = CodeDrawer(CodePattern(pattern="?" * 10, charset=charset)).draw(20_000)
    counts = Counter("".join(codes))
    expected = 200_000 / alphabet_size
    # A chi-square test at a generous threshold: a biased mapping (a byte modulo 10, say) fails it by far.
    chi_square = sum((counts[c] - expected) ** 2 / expected for c in charset)
    assert set(counts) == set(charset)
    assert chi_square < 3 * (alphabet_size - 1) + 10 * math.sqrt(2 * (alphabet_size - 1))
