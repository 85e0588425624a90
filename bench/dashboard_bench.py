"""The dashboard's row of `make bench`: a signed-in merchant's voucher list of 100 rows, one request at a time.

The target (issue 13) is p99 < 300 ms through Envoy (bench/run.py passes the public port). Each request is a whole
page: the session read from Redis, GetCurrentApiKey (the revocation check), ListVouchers of 100, and the rendering.
"""

from __future__ import annotations

import http.cookiejar
import re
import statistics
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass

ROW = re.compile(r'<a href="/vouchers/[^"]+">')


@dataclass(frozen=True)
class ListFigures:
    requests: int
    throughput: float
    p50_ms: float
    p99_ms: float
    errors: int


def _signed_in_opener(base_url: str, api_key: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base_url}/sign-in", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if token is None:
        raise RuntimeError("the sign-in page has no form token")
    form = urllib.parse.urlencode({"csrf_token": token.group(1), "secret": api_key}).encode()
    overview = opener.open(f"{base_url}/sign-in", data=form, timeout=10).read().decode()
    if "Sign out" not in overview:
        raise RuntimeError("the benchmark key could not sign in to the dashboard")
    return opener


def measure(
    base_url: str, api_key: str, *, expected_rows: int = 100, requests: int = 300, warmup: int = 20
) -> ListFigures:
    """GET /vouchers (100 rows when the tenant has that many) `requests` times in a row after `warmup` untimed
    ones; a page without `expected_rows` rows counts as an error."""
    opener = _signed_in_opener(base_url, api_key)
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    for number in range(warmup + requests):
        if number == warmup:
            started = time.perf_counter()
        began = time.perf_counter()
        try:
            body = opener.open(f"{base_url}/vouchers", timeout=10).read().decode()
            ok = len(ROW.findall(body)) == expected_rows
        except OSError:
            ok = False
        elapsed = time.perf_counter() - began
        if number >= warmup:
            latencies.append(elapsed * 1000)
            errors += 0 if ok else 1
    total = time.perf_counter() - started
    ordered = sorted(latencies)
    return ListFigures(
        requests=requests,
        throughput=requests / total,
        p50_ms=statistics.median(ordered),
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        errors=errors,
    )
