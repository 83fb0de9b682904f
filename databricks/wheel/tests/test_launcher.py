"""Tests of the Databricks launcher against a stand-in binary that records its arguments and environment."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from notion_sync import launcher

FAKE = """#!{python}
import json, os, sys
with open(os.environ["FAKE_RECORD"], "w") as f:
    json.dump({{"argv": sys.argv[1:], "env": dict(os.environ)}}, f)
sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
"""


@pytest.fixture
def fake(tmp_path: Path) -> dict[str, str]:
    """A base environment pointing the launcher at the stand-in binary."""
    binary = tmp_path / "notion-sync"
    binary.write_text(FAKE.format(python=sys.executable))
    binary.chmod(0o755)
    return {"NOTION_SYNC_BIN": str(binary), "FAKE_RECORD": str(tmp_path / "record.json"), "PATH": "/usr/bin:/bin"}


def record(env: dict[str, str]) -> dict:
    return json.loads(Path(env["FAKE_RECORD"]).read_text())


def secrets(values: dict[tuple[str, str], str]):
    """A secret reader over ``{(scope, key): value}``."""
    return lambda scope, key: values[(scope, key)]


def test_sync_parameters_map_to_flags(fake):
    code = launcher.run(
        ["--database", "projects", "--full-refresh", "true", "--", "--config", "/Workspace/n.toml"],
        {**fake, "NOTION_API_KEY": "t"},
        None,
    )
    assert code == 0
    assert record(fake)["argv"] == ["--config", "/Workspace/n.toml", "sync", "--database", "projects", "--full-refresh"]


def test_full_refresh_false_and_other_commands(fake):
    launcher.run(["--database", "projects", "--full-refresh", "false"], {**fake, "NOTION_API_KEY": "t"}, None)
    assert record(fake)["argv"] == ["sync", "--database", "projects"]
    launcher.run(["--command", "init-tables", "--database", "projects"], {**fake, "NOTION_API_KEY": "t"}, None)
    assert record(fake)["argv"] == ["init-tables"]


def test_databases_selection(fake):
    env = {**fake, "NOTION_API_KEY": "t"}
    assert launcher.run(["--database", "tasks", "--databases", "projects"], env, None) == 0
    assert not Path(fake["FAKE_RECORD"]).exists(), "an unselected task must not run the binary"
    launcher.run(["--database", "tasks", "--databases", " projects, tasks "], env, None)
    assert record(fake)["argv"] == ["sync", "--database", "tasks"]
    launcher.run(["--databases", "b,a"], env, None)
    assert record(fake)["argv"] == ["sync", "--database", "a", "--database", "b"]
    launcher.run(["--databases", "all"], env, None)
    assert record(fake)["argv"] == ["sync"]


def test_secrets_go_to_env_never_args(fake):
    read = secrets({("notion", "notion-api-key"): "secret-token", ("notion", "aws-secret"): "aws-s3cr3t"})
    code = launcher.run(
        ["--secret-scope", "notion", "--secret", "NOTION_API_KEY=notion-api-key",
         "--secret", "AWS_SECRET_ACCESS_KEY=aws-secret", "--env", "LAKEHOUSE_URI=s3://b/lake"],
        fake,
        read,
    )
    assert code == 0
    seen = record(fake)
    assert seen["env"]["NOTION_API_KEY"] == "secret-token"
    assert seen["env"]["AWS_SECRET_ACCESS_KEY"] == "aws-s3cr3t"
    assert seen["env"]["LAKEHOUSE_URI"] == "s3://b/lake"
    assert not any("secret-token" in a or "aws-s3cr3t" in a for a in seen["argv"])


def test_default_secret_and_env_fallback(fake):
    launcher.run(["--secret-scope", "notion"], fake, secrets({("notion", "notion-api-key"): "from-scope"}))
    assert record(fake)["env"]["NOTION_API_KEY"] == "from-scope"
    # No dbutils (off Databricks, or classic clusters with spark_env_vars): the variable already set is used.
    launcher.run(["--secret-scope", "notion"], {**fake, "NOTION_API_KEY": "from-env"}, None)
    assert record(fake)["env"]["NOTION_API_KEY"] == "from-env"


def test_missing_secret_is_a_usage_error(fake, capsys):
    assert launcher.run([], fake, None) == launcher.USAGE
    assert "NOTION_API_KEY" in capsys.readouterr().err
    failing = secrets({})
    assert launcher.run(["--secret-scope", "notion"], fake, failing) == launcher.USAGE
    assert not Path(fake["FAKE_RECORD"]).exists()


@pytest.mark.parametrize("bad", [["--full-refresh", "maybe"], ["--env", "NOVALUE"], ["--secret", "=key"]])
def test_bad_parameters(fake, bad):
    assert launcher.run(bad, {**fake, "NOTION_API_KEY": "t"}, None) == launcher.USAGE


@pytest.mark.parametrize("rc", [0, 1, 3, 75])
def test_exit_code_passthrough(fake, rc):
    assert launcher.run([], {**fake, "NOTION_API_KEY": "t", "FAKE_EXIT": str(rc)}, None) == rc


def test_signal_exit_code():
    assert launcher.exit_code(-15) == 143


def test_main_exits_with_the_binary_code(fake, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["notion-sync"])
    monkeypatch.setattr(launcher.os, "environ", {**fake, "NOTION_API_KEY": "t", "FAKE_EXIT": "4"})
    with pytest.raises(SystemExit) as e:
        launcher.main()
    assert e.value.code == 4
    monkeypatch.setattr(launcher.os, "environ", {**fake, "NOTION_API_KEY": "t", "FAKE_EXIT": "0"})
    assert launcher.main() is None


def test_dbutils_only_on_databricks():
    assert launcher.dbutils_secret_reader({}) is None


def test_packaged_binary_without_execute_bit_is_copied(tmp_path, monkeypatch):
    pkg = tmp_path / "notion_sync"
    (pkg / "bin").mkdir(parents=True)
    (pkg / "bin" / "notion-sync").write_text("#!/bin/sh\n")
    (pkg / "bin" / "notion-sync").chmod(0o644)
    monkeypatch.setattr(launcher, "__file__", str(pkg / "launcher.py"))
    found = launcher.locate_binary({})
    assert found != pkg / "bin" / "notion-sync"
    assert found.stat().st_mode & 0o100
