"""Reads the services' Prometheus /metrics pages before and after a scenario: what the server itself counted
(requests handled, redemption batch sizes) over exactly the window its CPU time is measured in."""

from __future__ import annotations

import math
import re
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass

_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$", re.MULTILINE)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(ports: Iterable[int]) -> Samples:
    """Every sample of every port's /metrics, summed over the ports (one per API server replica)."""
    totals: Samples = {}
    for port in ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
        for name, labels, value in _SAMPLE.findall(text):
            key = (name, frozenset(_LABEL.findall(labels)))
            totals[key] = totals.get(key, 0.0) + float(value)
    return totals


def delta(after: Samples, before: Samples) -> Samples:
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over every label set that includes `labels`."""
    wanted = set(labels.items())
    return sum(
        value for (sample, sample_labels), value in samples.items() if sample == name and wanted <= sample_labels
    )


@dataclass(frozen=True)
class SizeDistribution:
    """A histogram of small whole numbers (batch sizes); quantiles are the upper bound of their bucket."""

    count: int
    mean: float
    p50: int
    p90: int
    max_bucket: int  # upper bound of the largest bucket that holds any observation

    def describe(self) -> str:
        if not self.count:
            return "no batches"
        return (
            f"mean {self.mean:.1f}, p50 ≤{self.p50}, p90 ≤{self.p90}, max ≤{self.max_bucket} ({self.count:,} batches)"
        )


def size_distribution(samples: Samples, name: str) -> SizeDistribution:
    buckets = sorted(
        (float(dict(labels)["le"]), value) for (sample, labels), value in samples.items() if sample == f"{name}_bucket"
    )
    count = total(samples, f"{name}_count")
    if not count:
        return SizeDistribution(0, math.nan, 0, 0, 0)

    def quantile(fraction: float) -> int:
        bound = next(le for le, cumulative in buckets if cumulative >= fraction * count)
        return int(bound) if bound != math.inf else int(buckets[-2][0]) + 1

    largest = next(le for le, cumulative in buckets if cumulative >= count)
    return SizeDistribution(
        count=round(count),
        mean=total(samples, f"{name}_sum") / count,
        p50=quantile(0.5),
        p90=quantile(0.9),
        max_bucket=int(largest) if largest != math.inf else int(buckets[-2][0]) + 1,
    )
