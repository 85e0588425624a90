"""Regenerate everything derived from protos/: Python messages, gRPC stubs and type stubs in clients/python,
the descriptor set Envoy's transcoder loads, and the OpenAPI document of the REST API (docs/openapi.json).

    python tools/generate_code.py          # write the generated files
    python tools/generate_code.py --check  # exit 1 if the committed files are stale

The output is committed; CI runs --check so a proto change without regeneration fails.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

import grpc_tools
import openapi  # tools/openapi.py, beside this script
from grpc_tools import protoc

from vauchflow_devstack.envoy_config import GatewaySettings
from vauchflow_devstack.envoy_config import render as render_gateway_config

REPO = Path(__file__).resolve().parent.parent
PROTOS = REPO / "protos"
CLIENT_ROOT = REPO / "clients" / "python"
GENERATED_PACKAGE = Path("vauchflow") / "v1"
DESCRIPTOR_SET = Path("gateway") / "generated" / "vauchflow.pb"
OPENAPI_DOCUMENT = Path("docs") / "openapi.json"
# The gateway config of the docker-compose deployment (service names instead of loopback ports).
COMPOSE_GATEWAY_CONFIG = Path("gateway") / "generated" / "envoy.compose.yaml"
COMPOSE_GATEWAY = GatewaySettings(
    public_port=8080,
    admin_port=9901,
    api_addresses=(("server", 50051),),
    webhook_addresses=(("webhooks", 50052),),
    web_addresses=(("web", 8081),),
    listen_host="0.0.0.0",
    descriptor_path=Path("/etc/vauchflow/vauchflow.pb"),
)
# google/rpc/error_details.proto must be in the descriptor set or Envoy drops error details from REST bodies.
EXTRA_DESCRIPTOR_PROTOS = ["google/rpc/error_details.proto", "google/rpc/status.proto"]

INIT_TEXT = '''"""Generated from protos/vauchflow/v1 by tools/generate_code.py. DO NOT EDIT."""
'''


def _api_protos() -> list[str]:
    return sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / GENERATED_PACKAGE).glob("*.proto"))


def _run_protoc(args: list[str]) -> None:
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    code = protoc.main(["grpc_tools.protoc", f"-I{PROTOS}", f"-I{well_known}", *args])
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")


def generate(out_root: Path) -> list[Path]:
    """Writes every generated file under out_root; returns their paths relative to out_root."""
    client_out = out_root / "clients" / "python"
    package_dir = client_out / GENERATED_PACKAGE
    package_dir.mkdir(parents=True, exist_ok=True)
    mypy_grpc = Path(sysconfig.get_path("scripts")) / "protoc-gen-mypy_grpc"
    _run_protoc(
        [
            f"--python_out={client_out}",
            f"--pyi_out={client_out}",
            f"--grpc_python_out={client_out}",
            f"--plugin=protoc-gen-mypy_grpc={mypy_grpc}",
            f"--mypy_grpc_out={client_out}",
            *_api_protos(),
        ]
    )
    (package_dir / "__init__.py").write_text(INIT_TEXT)
    descriptor = out_root / DESCRIPTOR_SET
    descriptor.parent.mkdir(parents=True, exist_ok=True)
    _run_protoc(
        [
            f"--descriptor_set_out={descriptor}",
            "--include_imports",
            "--include_source_info",
            *_api_protos(),
            *EXTRA_DESCRIPTOR_PROTOS,
        ]
    )
    openapi.write_document(descriptor, out_root / OPENAPI_DOCUMENT)
    (out_root / COMPOSE_GATEWAY_CONFIG).write_text(render_gateway_config(COMPOSE_GATEWAY, routes_from=descriptor))
    generated = [p for p in package_dir.iterdir() if p.is_file()]
    generated += [descriptor, out_root / OPENAPI_DOCUMENT, out_root / COMPOSE_GATEWAY_CONFIG]
    return sorted(p.relative_to(out_root) for p in generated)


def _committed_files() -> set[Path]:
    package = CLIENT_ROOT / GENERATED_PACKAGE
    files = {p.relative_to(REPO) for p in package.glob("*") if p.is_file()}
    generated_elsewhere = (DESCRIPTOR_SET, OPENAPI_DOCUMENT, COMPOSE_GATEWAY_CONFIG)
    files.update(path for path in generated_elsewhere if (REPO / path).exists())
    return files


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = set(generate(Path(tmp)))
        stale = sorted(
            str(p)
            for p in fresh | _committed_files()
            if not (REPO / p).exists()
            or not (Path(tmp) / p).exists()
            or not filecmp.cmp(REPO / p, Path(tmp) / p, shallow=False)
        )
    if stale:
        print("generated code is stale; run `make generate` and commit:", *stale, sep="\n  ")
        return 1
    print("generated code is up to date")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed output is stale")
    if parser.parse_args().check:
        return check()
    shutil.rmtree(CLIENT_ROOT / GENERATED_PACKAGE, ignore_errors=True)
    print(f"generated {len(generate(REPO))} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
