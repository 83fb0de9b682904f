"""Settings of the notion-sync DAGs.

They come from `notion_sync_databases.yaml` beside the DAG file; the Airflow Variable `notion_sync_databases`
(JSON or YAML of the same shape) overrides its top-level keys. The runner comes from the environment variable
`NOTION_SYNC_RUNNER`, else the Variable of that name, else the `runner` key, else `bash`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from notion_sync_airflow.compat import Variable

CONFIG_FILE = Path(__file__).resolve().parent.parent / "notion_sync_databases.yaml"
VARIABLE = "notion_sync_databases"
RUNNER_VARIABLE = "NOTION_SYNC_RUNNER"
RUNNERS = ("bash", "kubernetes", "databricks")
DEFAULT_CONNECTION = "notion_default"

BRONZE_TABLES = (
    "notion_raw_pages",
    "notion_raw_page_versions",
    "notion_raw_databases",
    "notion_sync_watermarks",
    "notion_sync_runs",
    "notion_raw_rejects",
    "notion_raw_blocks",
    "notion_raw_users",
    "notion_raw_comments",
)

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_CONN_ID = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class Database:
    """One Notion database: its configured name, its id, and the Connection holding its token."""

    name: str
    id: str
    connection: str
    pool: str

    @property
    def id_variable(self) -> str:
        """The environment variable notion-sync reads the database id from."""
        return f"NOTION_{self.name.upper()}_DB_ID"


@dataclass(frozen=True)
class Settings:
    """Everything the DAG factory needs, validated."""

    databases: tuple[Database, ...]
    runner: str = "bash"
    lakehouse_uri: str = "/data/lakehouse"
    bronze_schema: str = "bronze"
    schedule: str | None = "@hourly"
    full_refresh_schedule: str | None = "@daily"
    retries: int = 3
    retry_delay_seconds: int = 300
    kubernetes: dict[str, Any] = field(default_factory=dict)
    databricks: dict[str, Any] = field(default_factory=dict)

    @property
    def pools(self) -> dict[str, str]:
        """Pool name per Connection (one token, one pool of one slot)."""
        return {db.connection: db.pool for db in self.databases}

    def table_uri(self, table: str) -> str:
        """Where a bronze table lives (also the URI of its Asset)."""
        root = self.lakehouse_uri.rstrip("/")
        if root.startswith("/"):
            root = "file://" + root
        return f"{root}/{self.bronze_schema}/{table}"


def _variable(key: str) -> str | None:
    """An Airflow Variable, or None when it is unset or no backend can be reached (e.g. at parse time)."""
    try:
        return Variable.get(key, None)  # the default is positional: `default` in 3.x, `default_var` in 2.x
    except Exception:  # noqa: BLE001 - parsing must not fail because a backend is unavailable
        return None


def _mapping(text: str | None, origin: str) -> dict[str, Any]:
    value = yaml.safe_load(text) if text else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{origin}: expected a mapping, got {type(value).__name__}")
    return value


def parse(doc: dict[str, Any], runner: str | None = None) -> Settings:
    """Validate a settings document (the YAML file's shape)."""
    runner = runner or doc.get("runner") or "bash"
    if runner not in RUNNERS:
        raise ValueError(f"{RUNNER_VARIABLE}={runner!r}: expected one of {', '.join(RUNNERS)}")
    default_conn = doc.get("connection", DEFAULT_CONNECTION)
    pools = doc.get("pools") or {}
    databases = []
    for name, entry in (doc.get("databases") or {}).items():
        entry = entry if isinstance(entry, dict) else {"id": entry}
        if not _NAME.match(str(name)):
            raise ValueError(f"database {name!r}: names are lower-case letters, digits and _")
        if not entry.get("id"):
            raise ValueError(f"database {name!r}: no id")
        conn = entry.get("connection", default_conn)
        if not _CONN_ID.match(conn):
            raise ValueError(f"database {name!r}: connection {conn!r} is not a valid Connection id")
        pool = pools.get(conn, f"notion_api_{conn}")
        databases.append(Database(name=name, id=str(entry["id"]), connection=conn, pool=pool))
    if not databases:
        raise ValueError("no databases configured (key `databases`)")
    keys = {f for f in Settings.__dataclass_fields__ if f not in ("databases", "runner")}
    return Settings(databases=tuple(databases), runner=runner, **{k: doc[k] for k in keys if k in doc})


def load(config_file: Path = CONFIG_FILE) -> Settings:
    """Read the settings from the file, the Variable and the environment."""
    doc = _mapping(config_file.read_text() if config_file.exists() else None, str(config_file))
    doc.update(_mapping(_variable(VARIABLE), f"Variable {VARIABLE}"))
    runner = os.environ.get(RUNNER_VARIABLE) or _variable(RUNNER_VARIABLE)
    return parse(doc, runner)
