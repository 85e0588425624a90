"""The API definition: buf lint (STANDARD), no breaking change against the committed baseline, every RPC
reachable over REST, and generated code that matches the protos."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.api import annotations_pb2
from google.longrunning import operations_pb2
from google.protobuf import descriptor_pb2

REPO = Path(__file__).resolve().parents[2]
BUF = REPO / "node_modules" / ".bin" / "buf"
BASELINE = "protos/baseline.binpb"


def _buf(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BUF), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_buf_lint_passes():
    result = _buf("lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_breaking_change_against_the_committed_baseline():
    result = _buf("breaking", "--against", BASELINE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_breaking_change_is_caught(tmp_path: Path):
    shutil.copy(REPO / "buf.yaml", tmp_path)
    shutil.copytree(REPO / "protos", tmp_path / "protos")
    voucher = tmp_path / "protos" / "vauchflow" / "v1" / "voucher.proto"
    text = voucher.read_text()
    assert "int64 redemption_count = 12 " in text
    voucher.write_text(text.replace("int64 redemption_count = 12 ", "int32 redemption_count = 12 "))
    result = _buf("breaking", "--against", BASELINE, cwd=tmp_path)
    assert result.returncode != 0
    assert "redemption_count" in result.stdout


def test_generated_code_is_up_to_date():
    result = subprocess.run(
        [sys.executable, "tools/generate_code.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _api_methods() -> list[descriptor_pb2.MethodDescriptorProto]:
    descriptor_set = descriptor_pb2.FileDescriptorSet()
    descriptor_set.ParseFromString((REPO / "gateway" / "generated" / "vauchflow.pb").read_bytes())
    return [
        method
        for file in descriptor_set.file
        if file.package == "vauchflow.v1"
        for service in file.service
        for method in service.method
    ]


def test_every_rpc_has_an_http_rule_and_its_own_messages():
    methods = _api_methods()
    assert len(methods) >= 18  # every RPC of the five services
    for method in methods:
        rule = method.options.Extensions[annotations_pb2.http]
        assert rule.WhichOneof("pattern"), f"{method.name} has no google.api.http rule"
        assert method.input_type.endswith(f".{method.name}Request")
        if method.options.HasExtension(operations_pb2.operation_info):
            # A long-running operation (AIP-151): the Operation, its response type named in operation_info.
            assert method.output_type == ".google.longrunning.Operation"
            info = method.options.Extensions[operations_pb2.operation_info]
            assert info.response_type.endswith(f".{method.name}Response")
        else:
            assert method.output_type.endswith(f".{method.name}Response")


@pytest.mark.parametrize("verb", [":redeem", ":validate", ":rollback", ":disable", ":revoke"])
def test_actions_are_custom_verbs(verb: str):
    paths = [m.options.Extensions[annotations_pb2.http].post for m in _api_methods()]
    assert any(path.endswith(verb) for path in paths)


def test_descriptor_set_carries_error_details_for_the_gateway():
    descriptor_set = descriptor_pb2.FileDescriptorSet()
    descriptor_set.ParseFromString((REPO / "gateway" / "generated" / "vauchflow.pb").read_bytes())
    names = {file.name for file in descriptor_set.file}
    assert "google/rpc/error_details.proto" in names
