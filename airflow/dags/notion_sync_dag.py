"""notion-sync DAGs: Notion databases into Delta Lake bronze tables.

`notion_sync` runs incrementally (default hourly); `notion_sync_full_refresh` re-reads every page (default
daily) so formula and rollup values, which change without touching a page's `last_edited_time`, stay fresh.
Both run `init-tables`, then one task per database from `notion_sync_databases.yaml` (or the Airflow Variable
`notion_sync_databases`), each in the pool of its Notion token, and update one Asset per bronze table.
See airflow/README.md.
"""

from __future__ import annotations

from notion_sync_airflow.config import load
from notion_sync_airflow.factory import build_dag

_settings = load()

notion_sync = build_dag("notion_sync", _settings, full_refresh=False)
notion_sync_full_refresh = build_dag("notion_sync_full_refresh", _settings, full_refresh=True)
