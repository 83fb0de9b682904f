-- notion-sync bronze tables, postgres dialect. Generated from the table specs (src/sink/spec.rs);
-- `notion-sync init-tables` runs the same statements for the configured schema.

CREATE TABLE IF NOT EXISTS bronze.notion_raw_pages (
  page_id TEXT NOT NULL,
  database_id TEXT NOT NULL,
  data_source_id TEXT NOT NULL,
  database_name TEXT NOT NULL,
  created_time TIMESTAMPTZ NOT NULL,
  last_edited_time TIMESTAMPTZ NOT NULL,
  created_by TEXT,
  last_edited_by TEXT,
  in_trash BOOLEAN NOT NULL,
  is_archived BOOLEAN NOT NULL,
  is_deleted BOOLEAN NOT NULL,
  deleted_at TIMESTAMPTZ,
  url TEXT,
  public_url TEXT,
  title TEXT NOT NULL,
  properties TEXT NOT NULL,
  payload TEXT NOT NULL,
  payload_sha256 TEXT NOT NULL,
  api_version TEXT NOT NULL,
  first_synced_at TIMESTAMPTZ NOT NULL,
  synced_at TIMESTAMPTZ NOT NULL,
  sync_run_id TEXT NOT NULL,
  deleted_reason TEXT,
  hydrated_properties TEXT,
  PRIMARY KEY (database_id, page_id)
);

COMMENT ON TABLE bronze.notion_raw_pages IS 'Current state of every Notion page, one row per (page_id, database_id)';

CREATE INDEX IF NOT EXISTS notion_raw_pages_by_page_id ON bronze.notion_raw_pages (page_id);

CREATE TABLE IF NOT EXISTS bronze.notion_raw_page_versions (
  page_id TEXT NOT NULL,
  database_id TEXT NOT NULL,
  data_source_id TEXT NOT NULL,
  last_edited_time TIMESTAMPTZ NOT NULL,
  in_trash BOOLEAN NOT NULL,
  is_archived BOOLEAN NOT NULL,
  is_deleted BOOLEAN NOT NULL,
  payload_sha256 TEXT NOT NULL,
  payload TEXT NOT NULL,
  api_version TEXT NOT NULL,
  observed_at TIMESTAMPTZ NOT NULL,
  sync_run_id TEXT NOT NULL,
  PRIMARY KEY (page_id, payload_sha256)
);

COMMENT ON TABLE bronze.notion_raw_page_versions IS 'Append-only history: one row per distinct (page_id, payload_sha256) ever observed';

CREATE TABLE IF NOT EXISTS bronze.notion_raw_databases (
  database_id TEXT NOT NULL,
  data_source_id TEXT NOT NULL,
  database_name TEXT NOT NULL,
  title TEXT NOT NULL,
  schema TEXT NOT NULL,
  payload TEXT NOT NULL,
  schema_sha256 TEXT NOT NULL,
  api_version TEXT NOT NULL,
  observed_at TIMESTAMPTZ NOT NULL,
  sync_run_id TEXT NOT NULL
);

COMMENT ON TABLE bronze.notion_raw_databases IS 'Schema snapshots of Notion data sources, one row per distinct schema';

CREATE TABLE IF NOT EXISTS bronze.notion_sync_watermarks (
  database_id TEXT NOT NULL,
  data_source_id TEXT NOT NULL,
  database_name TEXT NOT NULL,
  watermark TIMESTAMPTZ,
  last_full_refresh_at TIMESTAMPTZ,
  last_run_id TEXT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  query_started_at TIMESTAMPTZ,
  PRIMARY KEY (database_id, data_source_id)
);

COMMENT ON TABLE bronze.notion_sync_watermarks IS 'Max committed last_edited_time per Notion data source';

CREATE TABLE IF NOT EXISTS bronze.notion_sync_runs (
  run_id TEXT NOT NULL,
  database_name TEXT NOT NULL,
  database_id TEXT NOT NULL,
  started_at TIMESTAMPTZ NOT NULL,
  finished_at TIMESTAMPTZ NOT NULL,
  status TEXT NOT NULL,
  mode TEXT NOT NULL,
  fetched BIGINT NOT NULL,
  inserted BIGINT NOT NULL,
  updated BIGINT NOT NULL,
  unchanged BIGINT NOT NULL,
  soft_deleted BIGINT NOT NULL,
  hydration_requests BIGINT NOT NULL,
  api_requests BIGINT NOT NULL,
  throttled_429 BIGINT NOT NULL,
  retries BIGINT NOT NULL,
  restarts BIGINT NOT NULL,
  watermark_before TIMESTAMPTZ,
  watermark_after TIMESTAMPTZ,
  error_class TEXT,
  error_message TEXT,
  tool_version TEXT NOT NULL,
  api_version TEXT NOT NULL,
  rejected BIGINT,
  wait_ms BIGINT,
  content_pages BIGINT,
  content_requests BIGINT,
  content_written BIGINT,
  content_deleted BIGINT,
  content_depth_cuts BIGINT
);

COMMENT ON TABLE bronze.notion_sync_runs IS 'Audit trail: one row per database per notion-sync run';

CREATE TABLE IF NOT EXISTS bronze.notion_raw_rejects (
  database_id TEXT NOT NULL,
  data_source_id TEXT NOT NULL,
  database_name TEXT NOT NULL,
  page_id TEXT,
  error TEXT NOT NULL,
  raw TEXT NOT NULL,
  raw_sha256 TEXT NOT NULL,
  observed_at TIMESTAMPTZ NOT NULL,
  sync_run_id TEXT NOT NULL
);

COMMENT ON TABLE bronze.notion_raw_rejects IS 'Query results that could not be stored as pages, kept raw with the reason';

CREATE TABLE IF NOT EXISTS bronze.notion_raw_blocks (
  block_id TEXT NOT NULL,
  page_id TEXT NOT NULL,
  database_id TEXT NOT NULL,
  data_source_id TEXT NOT NULL,
  parent_id TEXT NOT NULL,
  parent_type TEXT NOT NULL,
  position BIGINT NOT NULL,
  depth BIGINT NOT NULL,
  type TEXT NOT NULL,
  has_children BOOLEAN NOT NULL,
  in_trash BOOLEAN NOT NULL,
  created_time TIMESTAMPTZ,
  last_edited_time TIMESTAMPTZ,
  payload TEXT NOT NULL,
  payload_sha256 TEXT NOT NULL,
  plain_text TEXT NOT NULL,
  is_deleted BOOLEAN NOT NULL,
  deleted_at TIMESTAMPTZ,
  first_synced_at TIMESTAMPTZ NOT NULL,
  synced_at TIMESTAMPTZ NOT NULL,
  sync_run_id TEXT NOT NULL,
  PRIMARY KEY (block_id, page_id)
);

COMMENT ON TABLE bronze.notion_raw_blocks IS 'Page content: every block of every synced page, one row per (block_id, page_id)';

CREATE INDEX IF NOT EXISTS notion_raw_blocks_by_page_id ON bronze.notion_raw_blocks (page_id);

CREATE TABLE IF NOT EXISTS bronze.notion_raw_users (
  user_id TEXT NOT NULL,
  type TEXT NOT NULL,
  name TEXT,
  email TEXT,
  payload TEXT NOT NULL,
  payload_sha256 TEXT NOT NULL,
  is_deleted BOOLEAN NOT NULL,
  deleted_at TIMESTAMPTZ,
  first_synced_at TIMESTAMPTZ NOT NULL,
  synced_at TIMESTAMPTZ NOT NULL,
  sync_run_id TEXT NOT NULL,
  PRIMARY KEY (user_id)
);

COMMENT ON TABLE bronze.notion_raw_users IS 'Workspace users (people and bots), one row per user_id';

CREATE TABLE IF NOT EXISTS bronze.notion_raw_comments (
  comment_id TEXT NOT NULL,
  page_id TEXT NOT NULL,
  database_id TEXT NOT NULL,
  discussion_id TEXT NOT NULL,
  parent_type TEXT NOT NULL,
  parent_id TEXT NOT NULL,
  created_time TIMESTAMPTZ,
  last_edited_time TIMESTAMPTZ,
  created_by TEXT,
  plain_text TEXT NOT NULL,
  payload TEXT NOT NULL,
  payload_sha256 TEXT NOT NULL,
  is_deleted BOOLEAN NOT NULL,
  deleted_at TIMESTAMPTZ,
  first_synced_at TIMESTAMPTZ NOT NULL,
  synced_at TIMESTAMPTZ NOT NULL,
  sync_run_id TEXT NOT NULL,
  PRIMARY KEY (comment_id)
);

COMMENT ON TABLE bronze.notion_raw_comments IS 'Comments of synced pages and their blocks, one row per comment_id';

CREATE INDEX IF NOT EXISTS notion_raw_comments_by_page_id ON bronze.notion_raw_comments (page_id);

CREATE TABLE IF NOT EXISTS bronze.notion_restore_log (
  restore_id TEXT NOT NULL,
  step BIGINT NOT NULL,
  database_id TEXT NOT NULL,
  action TEXT NOT NULL,
  old_id TEXT NOT NULL,
  new_id TEXT,
  status TEXT NOT NULL,
  request_id TEXT,
  detail TEXT,
  at TIMESTAMPTZ NOT NULL
);

COMMENT ON TABLE bronze.notion_restore_log IS 'Journal of restores into Notion: each step (intent, then outcome), so a restore resumes safely';

CREATE TABLE IF NOT EXISTS bronze.notion_raw_files (
  file_key TEXT NOT NULL,
  database_id TEXT NOT NULL,
  page_id TEXT NOT NULL,
  block_id TEXT,
  property_id TEXT,
  name TEXT NOT NULL,
  content_type TEXT,
  size_bytes BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  object_path TEXT NOT NULL,
  copied_at TIMESTAMPTZ NOT NULL,
  sync_run_id TEXT NOT NULL,
  PRIMARY KEY (file_key)
);

COMMENT ON TABLE bronze.notion_raw_files IS 'Copies of Notion-hosted files (their URLs expire), one row per file: where the bytes are in the lake';

CREATE TABLE IF NOT EXISTS bronze.notion_sync_leases (
  lease_key TEXT NOT NULL,
  epoch BIGINT NOT NULL,
  document TEXT NOT NULL,
  modified_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (lease_key, epoch)
);

COMMENT ON TABLE bronze.notion_sync_leases IS 'One-writer leases of the databases synced into this schema (one row per lease epoch).';
