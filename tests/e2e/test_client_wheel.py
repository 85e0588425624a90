"""The client package on its own: `python -m build clients/python` makes a wheel with py.typed, its README,
licence and every runtime dependency declared; installed into a fresh virtual environment with nothing else (at
the versions the repository pins), it runs the getting-started example against the real stack."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "clients" / "python"
RUNTIME = ("grpcio", "grpcio-status", "protobuf", "googleapis-common-protos")


def _pinned() -> list[str]:
    """The repository's pins of the client's runtime dependencies ("grpcio==1.85.1", ...)."""
    pins = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    chosen = [pin for pin in pins if pin.split("==")[0] in RUNTIME]
    assert len(chosen) == len(RUNTIME), pins
    return chosen


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=240, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{argv}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_the_wheel_installs_alone_and_runs_getting_started(gateway, api_server, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(CLIENT)])
    [wheel] = dist.glob("vauchflow-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [metadata_name] = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
    assert {"vauchflow/py.typed", "vauchflow/__init__.py", "vauchflow/v1/voucher_pb2.pyi"} <= names
    assert any(n.endswith("licenses/LICENSE") for n in names), sorted(names)
    assert not any(n.startswith("tests/") or n.startswith("examples/") for n in names)
    required = {requirement.split(">=")[0].split(" ")[0] for requirement in metadata.get_all("Requires-Dist") or []}
    assert required == set(RUNTIME)
    assert metadata["License-Expression"] == "MIT"
    assert "Typing :: Typed" in (metadata.get_all("Classifier") or [])
    assert "# vauchflow" in metadata.get_payload()  # the README is the long description
    import vauchflow

    assert metadata["Version"] == vauchflow.__version__

    fresh = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(fresh)
    python = str(fresh / "bin" / "python")
    # Nothing of the caller's Python setup reaches the fresh environment: with the repository's clients/python on
    # PYTHONPATH, pip would find the vauchflow.egg-info the build just left there, call vauchflow "already
    # installed" and skip the wheel.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAUCHFLOW", "PYTHON"))}
    _run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel), *_pinned()], env=env)
    _run([python, "-m", "pip", "check"], env=env)

    env.update(VAUCHFLOW_TARGET=gateway.grpc_target, VAUCHFLOW_ADMIN_TOKEN=api_server.admin_token)
    located = _run([python, "-c", "import vauchflow; print(vauchflow.__file__)"], cwd=tmp_path, env=env)
    assert located.stdout.startswith(str(fresh)), located.stdout  # the wheel's copy, not the repository's
    example = _run([python, str(REPO / "examples" / "getting_started.py")], cwd=tmp_path, env=env)
    assert example.stdout.splitlines()[-1] == "history: True REDEMPTION_STATUS_ROLLED_BACK"
