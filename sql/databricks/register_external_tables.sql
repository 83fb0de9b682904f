-- Registers the bronze tables that notion-sync writes on object storage as Unity Catalog external tables.
-- `notion-sync ddl --dialect databricks --location <uri> [--catalog C] [--schema S]` prints this file with
-- ${catalog}, ${schema} and ${location} filled in (location: the folder holding the tables, i.e.
-- <LAKEHOUSE_URI>/<BRONZE_SCHEMA>). Each table's schema is read from its Delta log; run this once, after
-- `notion-sync init-tables`. The location must lie under a Unity Catalog external location; notion-sync
-- stays the only writer of these tables (see the README: one writer system per table).
CREATE SCHEMA IF NOT EXISTS `${catalog}`.`${schema}`;
CREATE TABLE IF NOT EXISTS `${catalog}`.`${schema}`.`notion_raw_pages` USING DELTA LOCATION '${location}/notion_raw_pages';
CREATE TABLE IF NOT EXISTS `${catalog}`.`${schema}`.`notion_raw_page_versions` USING DELTA LOCATION '${location}/notion_raw_page_versions';
CREATE TABLE IF NOT EXISTS `${catalog}`.`${schema}`.`notion_raw_databases` USING DELTA LOCATION '${location}/notion_raw_databases';
CREATE TABLE IF NOT EXISTS `${catalog}`.`${schema}`.`notion_sync_watermarks` USING DELTA LOCATION '${location}/notion_sync_watermarks';
CREATE TABLE IF NOT EXISTS `${catalog}`.`${schema}`.`notion_sync_runs` USING DELTA LOCATION '${location}/notion_sync_runs';
CREATE TABLE IF NOT EXISTS `${catalog}`.`${schema}`.`notion_raw_rejects` USING DELTA LOCATION '${location}/notion_raw_rejects';
CREATE TABLE IF NOT EXISTS `${catalog}`.`${schema}`.`notion_raw_blocks` USING DELTA LOCATION '${location}/notion_raw_blocks';
CREATE TABLE IF NOT EXISTS `${catalog}`.`${schema}`.`notion_raw_users` USING DELTA LOCATION '${location}/notion_raw_users';
CREATE TABLE IF NOT EXISTS `${catalog}`.`${schema}`.`notion_raw_comments` USING DELTA LOCATION '${location}/notion_raw_comments';
CREATE TABLE IF NOT EXISTS `${catalog}`.`${schema}`.`notion_restore_log` USING DELTA LOCATION '${location}/notion_restore_log';
CREATE TABLE IF NOT EXISTS `${catalog}`.`${schema}`.`notion_raw_files` USING DELTA LOCATION '${location}/notion_raw_files';
