-- notion-sync bronze tables, databricks dialect. Generated from the table specs (src/sink/spec.rs);
-- `notion-sync init-tables` runs the same statements for the configured schema.

CREATE TABLE IF NOT EXISTS main.bronze.notion_raw_pages (
  page_id STRING NOT NULL,
  database_id STRING NOT NULL,
  data_source_id STRING NOT NULL,
  database_name STRING NOT NULL,
  created_time TIMESTAMP NOT NULL,
  last_edited_time TIMESTAMP NOT NULL,
  created_by STRING,
  last_edited_by STRING,
  in_trash BOOLEAN NOT NULL,
  is_archived BOOLEAN NOT NULL,
  is_deleted BOOLEAN NOT NULL,
  deleted_at TIMESTAMP,
  url STRING,
  public_url STRING,
  title STRING NOT NULL,
  properties STRING NOT NULL,
  payload STRING NOT NULL,
  payload_sha256 STRING NOT NULL,
  api_version STRING NOT NULL,
  first_synced_at TIMESTAMP NOT NULL,
  synced_at TIMESTAMP NOT NULL,
  sync_run_id STRING NOT NULL,
  deleted_reason STRING,
  hydrated_properties STRING
)
USING DELTA
CLUSTER BY (database_id, page_id)
COMMENT 'Current state of every Notion page, one row per (page_id, database_id)'
TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true');

CREATE TABLE IF NOT EXISTS main.bronze.notion_raw_page_versions (
  page_id STRING NOT NULL,
  database_id STRING NOT NULL,
  data_source_id STRING NOT NULL,
  last_edited_time TIMESTAMP NOT NULL,
  in_trash BOOLEAN NOT NULL,
  is_archived BOOLEAN NOT NULL,
  is_deleted BOOLEAN NOT NULL,
  payload_sha256 STRING NOT NULL,
  payload STRING NOT NULL,
  api_version STRING NOT NULL,
  observed_at TIMESTAMP NOT NULL,
  sync_run_id STRING NOT NULL
)
USING DELTA
CLUSTER BY (page_id, payload_sha256)
COMMENT 'Append-only history: one row per distinct (page_id, payload_sha256) ever observed'
TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true');

CREATE TABLE IF NOT EXISTS main.bronze.notion_raw_databases (
  database_id STRING NOT NULL,
  data_source_id STRING NOT NULL,
  database_name STRING NOT NULL,
  title STRING NOT NULL,
  schema STRING NOT NULL,
  payload STRING NOT NULL,
  schema_sha256 STRING NOT NULL,
  api_version STRING NOT NULL,
  observed_at TIMESTAMP NOT NULL,
  sync_run_id STRING NOT NULL
)
USING DELTA
CLUSTER BY (data_source_id, schema_sha256)
COMMENT 'Schema snapshots of Notion data sources, one row per distinct schema'
TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true');

CREATE TABLE IF NOT EXISTS main.bronze.notion_sync_watermarks (
  database_id STRING NOT NULL,
  data_source_id STRING NOT NULL,
  database_name STRING NOT NULL,
  watermark TIMESTAMP,
  last_full_refresh_at TIMESTAMP,
  last_run_id STRING NOT NULL,
  updated_at TIMESTAMP NOT NULL,
  query_started_at TIMESTAMP
)
USING DELTA
CLUSTER BY (database_id, data_source_id)
COMMENT 'Max committed last_edited_time per Notion data source'
TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true');

CREATE TABLE IF NOT EXISTS main.bronze.notion_sync_runs (
  run_id STRING NOT NULL,
  database_name STRING NOT NULL,
  database_id STRING NOT NULL,
  started_at TIMESTAMP NOT NULL,
  finished_at TIMESTAMP NOT NULL,
  status STRING NOT NULL,
  mode STRING NOT NULL,
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
  watermark_before TIMESTAMP,
  watermark_after TIMESTAMP,
  error_class STRING,
  error_message STRING,
  tool_version STRING NOT NULL,
  api_version STRING NOT NULL,
  rejected BIGINT,
  wait_ms BIGINT,
  content_pages BIGINT,
  content_requests BIGINT,
  content_written BIGINT,
  content_deleted BIGINT,
  content_depth_cuts BIGINT
)
USING DELTA
CLUSTER BY (run_id, database_id)
COMMENT 'Audit trail: one row per database per notion-sync run'
TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true');

CREATE TABLE IF NOT EXISTS main.bronze.notion_raw_rejects (
  database_id STRING NOT NULL,
  data_source_id STRING NOT NULL,
  database_name STRING NOT NULL,
  page_id STRING,
  error STRING NOT NULL,
  raw STRING NOT NULL,
  raw_sha256 STRING NOT NULL,
  observed_at TIMESTAMP NOT NULL,
  sync_run_id STRING NOT NULL
)
USING DELTA
CLUSTER BY (raw_sha256)
COMMENT 'Query results that could not be stored as pages, kept raw with the reason'
TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true');

CREATE TABLE IF NOT EXISTS main.bronze.notion_raw_blocks (
  block_id STRING NOT NULL,
  page_id STRING NOT NULL,
  database_id STRING NOT NULL,
  data_source_id STRING NOT NULL,
  parent_id STRING NOT NULL,
  parent_type STRING NOT NULL,
  position BIGINT NOT NULL,
  depth BIGINT NOT NULL,
  type STRING NOT NULL,
  has_children BOOLEAN NOT NULL,
  in_trash BOOLEAN NOT NULL,
  created_time TIMESTAMP,
  last_edited_time TIMESTAMP,
  payload STRING NOT NULL,
  payload_sha256 STRING NOT NULL,
  plain_text STRING NOT NULL,
  is_deleted BOOLEAN NOT NULL,
  deleted_at TIMESTAMP,
  first_synced_at TIMESTAMP NOT NULL,
  synced_at TIMESTAMP NOT NULL,
  sync_run_id STRING NOT NULL
)
USING DELTA
CLUSTER BY (block_id, page_id)
COMMENT 'Page content: every block of every synced page, one row per (block_id, page_id)'
TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true');

CREATE TABLE IF NOT EXISTS main.bronze.notion_raw_users (
  user_id STRING NOT NULL,
  type STRING NOT NULL,
  name STRING,
  email STRING,
  payload STRING NOT NULL,
  payload_sha256 STRING NOT NULL,
  is_deleted BOOLEAN NOT NULL,
  deleted_at TIMESTAMP,
  first_synced_at TIMESTAMP NOT NULL,
  synced_at TIMESTAMP NOT NULL,
  sync_run_id STRING NOT NULL
)
USING DELTA
CLUSTER BY (user_id)
COMMENT 'Workspace users (people and bots), one row per user_id'
TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true');

CREATE TABLE IF NOT EXISTS main.bronze.notion_raw_comments (
  comment_id STRING NOT NULL,
  page_id STRING NOT NULL,
  database_id STRING NOT NULL,
  discussion_id STRING NOT NULL,
  parent_type STRING NOT NULL,
  parent_id STRING NOT NULL,
  created_time TIMESTAMP,
  last_edited_time TIMESTAMP,
  created_by STRING,
  plain_text STRING NOT NULL,
  payload STRING NOT NULL,
  payload_sha256 STRING NOT NULL,
  is_deleted BOOLEAN NOT NULL,
  deleted_at TIMESTAMP,
  first_synced_at TIMESTAMP NOT NULL,
  synced_at TIMESTAMP NOT NULL,
  sync_run_id STRING NOT NULL
)
USING DELTA
CLUSTER BY (comment_id)
COMMENT 'Comments of synced pages and their blocks, one row per comment_id'
TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true');

CREATE TABLE IF NOT EXISTS main.bronze.notion_restore_log (
  restore_id STRING NOT NULL,
  step BIGINT NOT NULL,
  database_id STRING NOT NULL,
  action STRING NOT NULL,
  old_id STRING NOT NULL,
  new_id STRING,
  status STRING NOT NULL,
  request_id STRING,
  detail STRING,
  at TIMESTAMP NOT NULL
)
USING DELTA
CLUSTER BY (restore_id, step)
COMMENT 'Journal of restores into Notion: each step (intent, then outcome), so a restore resumes safely'
TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true');

CREATE TABLE IF NOT EXISTS main.bronze.notion_raw_files (
  file_key STRING NOT NULL,
  database_id STRING NOT NULL,
  page_id STRING NOT NULL,
  block_id STRING,
  property_id STRING,
  name STRING NOT NULL,
  content_type STRING,
  size_bytes BIGINT NOT NULL,
  sha256 STRING NOT NULL,
  object_path STRING NOT NULL,
  copied_at TIMESTAMP NOT NULL,
  sync_run_id STRING NOT NULL
)
USING DELTA
CLUSTER BY (file_key)
COMMENT 'Copies of Notion-hosted files (their URLs expire), one row per file: where the bytes are in the lake'
TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true');

CREATE TABLE IF NOT EXISTS main.bronze.notion_sync_leases (
  lease_key STRING NOT NULL,
  epoch BIGINT NOT NULL,
  document STRING NOT NULL,
  modified_at TIMESTAMP NOT NULL
)
USING DELTA
CLUSTER BY (lease_key, epoch)
COMMENT 'One-writer leases of the databases synced into this schema (one row per lease epoch).'
TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true');
