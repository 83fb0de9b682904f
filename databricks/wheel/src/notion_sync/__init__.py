"""notion-sync packaged for Databricks: the binary under ``bin/`` and :mod:`notion_sync.launcher`."""
