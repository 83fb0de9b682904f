//! Lease documents in a warehouse table (`notion_sync_leases`), so that one writer per database holds
//! across hosts that share nothing but the warehouse.
//!
//! Creating a document is an insert guarded by `NOT EXISTS`; on PostgreSQL the primary key makes a racing
//! insert fail (and lose), on Databricks the concurrent commit fails. Either way the creator reads the
//! row back and wins only if it holds its own document.

use std::io;

use super::ddl::LEASES;
use super::dialect::Sql;
use super::odbc::Odbc;
use crate::sink::lease::{LeaseStore, StoreFuture, Stored};
use crate::sink::sql_str;

/// The warehouse's lease table.
#[derive(Debug, Clone)]
pub struct WarehouseLeaseStore {
    odbc: Odbc,
    sql: Sql,
}

impl WarehouseLeaseStore {
    /// Leases in the schema of `sql`.
    pub fn new(odbc: Odbc, sql: Sql) -> WarehouseLeaseStore {
        WarehouseLeaseStore { odbc, sql }
    }

    async fn query(&self, sql: String) -> io::Result<Vec<Vec<Option<String>>>> {
        let transactional = self.sql.transactional();
        self.odbc
            .run(LEASES.name, transactional, move |s| s.query(&sql))
            .await
            .map_err(io::Error::other)
    }

    async fn exec(&self, sql: String) -> io::Result<u64> {
        let transactional = self.sql.transactional();
        self.odbc
            .run(LEASES.name, transactional, move |s| s.exec_count(&sql))
            .await
            .map_err(io::Error::other)
    }
}

fn key_filter(key: &str, epoch: Option<u64>) -> String {
    let mut f = format!("lease_key = {}", sql_str(key));
    if let Some(e) = epoch {
        f.push_str(&format!(" AND epoch = {e}"));
    }
    f
}

/// Creates the document of `epoch` unless one exists.
pub fn create_statement(sql: &Sql, key: &str, epoch: u64, text: &str) -> String {
    format!(
        "INSERT INTO {table} (lease_key, epoch, document, modified_at) SELECT {k}, {epoch}, {doc}, \
         CURRENT_TIMESTAMP WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE {f})",
        table = sql.table(LEASES.name),
        k = sql_str(key),
        doc = sql_str(text),
        f = key_filter(key, Some(epoch)),
    )
}

/// Replaces the document of `epoch` (renewal).
pub fn replace_statement(sql: &Sql, key: &str, epoch: u64, text: &str) -> String {
    format!(
        "UPDATE {} SET document = {}, modified_at = CURRENT_TIMESTAMP WHERE {}",
        sql.table(LEASES.name),
        sql_str(text),
        key_filter(key, Some(epoch))
    )
}

/// Removes the document of `epoch`.
pub fn remove_statement(sql: &Sql, key: &str, epoch: u64) -> String {
    format!(
        "DELETE FROM {} WHERE {}",
        sql.table(LEASES.name),
        key_filter(key, Some(epoch))
    )
}

impl LeaseStore for WarehouseLeaseStore {
    fn epochs<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Vec<u64>> {
        Box::pin(async move {
            let sql = self.sql.select(
                &LEASES,
                &["epoch"],
                Some(&key_filter(key, None)),
                Some("epoch"),
            );
            let rows = self.query(sql).await?;
            Ok(rows
                .iter()
                .filter_map(|r| r.first().cloned().flatten())
                .filter_map(|e| e.parse().ok())
                .collect())
        })
    }

    fn read<'a>(&'a self, key: &'a str, epoch: u64) -> StoreFuture<'a, Option<Stored>> {
        Box::pin(async move {
            let sql = self.sql.select(
                &LEASES,
                &["document", "modified_at"],
                Some(&key_filter(key, Some(epoch))),
                None,
            );
            let rows = self.query(sql).await?;
            Ok(rows.into_iter().next().and_then(|r| {
                let text = r.first().cloned().flatten()?;
                let micros: i64 = r.get(1).cloned().flatten()?.parse().ok()?;
                Some(Stored {
                    text,
                    modified: chrono::DateTime::from_timestamp_micros(micros)?,
                })
            }))
        })
    }

    fn create<'a>(&'a self, key: &'a str, epoch: u64, text: String) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            match self
                .exec(create_statement(&self.sql, key, epoch, &text))
                .await
            {
                Ok(_) => {}
                // A racing creator committed first (duplicate key or concurrent commit): it holds the epoch.
                Err(e) if e.to_string().contains("23505") => return Ok(false),
                Err(e) => return Err(e),
            }
            Ok(self
                .read(key, epoch)
                .await?
                .is_some_and(|stored| stored.text == text))
        })
    }

    fn replace<'a>(&'a self, key: &'a str, epoch: u64, text: String) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.exec(replace_statement(&self.sql, key, epoch, &text))
                .await
                .map(|_| ())
        })
    }

    fn remove<'a>(&'a self, key: &'a str, epoch: u64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.exec(remove_statement(&self.sql, key, epoch))
                .await
                .map(|_| ())
        })
    }

    fn describe(&self, key: &str) -> String {
        format!("{} (lease_key {key})", self.sql.table(LEASES.name))
    }
}
