"""Settings from secret files (docker compose `secrets:`): VAUCHFLOW_X_FILE fills VAUCHFLOW_X when it is unset."""

from __future__ import annotations

from pathlib import Path

import pytest

from vauchflow_core.settings import ConfigError, with_secret_files


def test_a_file_fills_its_setting_and_an_explicit_value_wins(tmp_path: Path) -> None:
    token = tmp_path / "operator_token"
    token.write_text("vf_op_from_a_file\n")
    env = {"VAUCHFLOW_ADMIN_TOKEN_FILE": str(token), "DATABASE_URL_FILE": str(token)}
    assert with_secret_files(env)["VAUCHFLOW_ADMIN_TOKEN"] == "vf_op_from_a_file"
    assert with_secret_files(env)["DATABASE_URL"] == "vf_op_from_a_file"
    assert with_secret_files({**env, "VAUCHFLOW_ADMIN_TOKEN": "given"})["VAUCHFLOW_ADMIN_TOKEN"] == "given"


def test_other_programs_file_variables_are_left_alone(tmp_path: Path) -> None:
    env = {"TF_CLI_CONFIG_FILE": str(tmp_path / "missing"), "PYTHONSTARTUP_FILE": "/nowhere"}
    assert with_secret_files(env) == env


def test_an_unreadable_file_is_a_configuration_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="VAUCHFLOW_WEBHOOK_KEYS_FILE: cannot read") as raised:
        with_secret_files({"VAUCHFLOW_WEBHOOK_KEYS_FILE": str(tmp_path / "absent")})
    assert "FileNotFoundError" in str(raised.value)
