"""The README's getting-started block, run exactly as written against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def getting_started_code() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Getting started", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, "the getting-started section holds exactly one python block"
    return blocks[0]


def test_readme_getting_started_runs_as_written(api_server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAUCHFLOW_")}
    env.update(VAUCHFLOW_TARGET=api_server.target, VAUCHFLOW_ADMIN_TOKEN=api_server.admin_token)
    result = subprocess.run(
        [sys.executable, "-c", getting_started_code()], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "valid: True discount: 500"
    assert re.fullmatch(r"redeemed: [0-9a-f-]{36} count: 1", lines[1])
    assert lines[2].startswith("refused: FAILED_PRECONDITION")
    assert lines[3].endswith("REDEMPTION_STATUS_ROLLED_BACK")
    assert len(lines) == 4
