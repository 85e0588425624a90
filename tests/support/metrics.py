"""Reading a service's Prometheus metrics in tests: the scrape, and one sample of it."""

from __future__ import annotations

import re
import urllib.request


def scrape(port: int) -> str:
    """The text exposition of the metrics served on 127.0.0.1:port."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def sample(text: str, name: str, default: float = 0.0, **labels: str) -> float:
    """The value of `name` with exactly these labels in a scrape; `default` when the series is absent (a labelled
    counter or gauge appears only once it was first touched)."""
    selector = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    pattern = rf"^{name}\{{{selector}\}} ([0-9.e+]+)$" if labels else rf"^{name} ([0-9.e+]+)$"
    match = re.search(pattern, text, flags=re.MULTILINE)
    return float(match[1]) if match else default
