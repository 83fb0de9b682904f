//! A lake on an object store (S3, Azure, GCS): lease documents by conditional create, the write probe of
//! `health`, and what the store's errors mean for the operator.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use url::Url;

use super::lease::{LeaseStore, StoreFuture, Stored};
use crate::config::Store;

/// Opens the object store at `root`: paths given to it are relative to `root` (delta-rs prefixes them).
pub fn open(
    root: &Url,
    options: &std::collections::HashMap<String, String>,
) -> deltalake::DeltaResult<Arc<dyn ObjectStore>> {
    deltalake::logstore::store_for(root, options.clone())
}

/// Lease documents as objects `<root>/_locks/<key>/<epoch>.json`. Creation is a conditional put
/// (`If-None-Match: *` on S3, the equivalent on Azure and GCS) that fails when the object exists, so
/// exactly one of several racing creators wins; renewal overwrites the holder's own document.
#[derive(Debug, Clone)]
pub struct ObjectLeaseStore {
    store: Arc<dyn ObjectStore>,
    dir: Path,
    shown: String,
}

impl ObjectLeaseStore {
    /// Documents under `dir` of `store`; `shown` is how messages name that place (`s3://b/lake/_locks`).
    pub fn new(store: Arc<dyn ObjectStore>, dir: Path, shown: String) -> ObjectLeaseStore {
        ObjectLeaseStore { store, dir, shown }
    }

    fn key_dir(&self, key: &str) -> Path {
        self.dir.clone().join(key)
    }

    fn path(&self, key: &str, epoch: u64) -> Path {
        self.key_dir(key).join(format!("{epoch:020}.json"))
    }
}

fn io(e: object_store::Error) -> std::io::Error {
    std::io::Error::other(e)
}

impl LeaseStore for ObjectLeaseStore {
    fn epochs<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Vec<u64>> {
        Box::pin(async move {
            let prefix = self.key_dir(key);
            let listed: Vec<_> = self
                .store
                .list(Some(&prefix))
                .try_collect()
                .await
                .map_err(io)?;
            let mut epochs: Vec<u64> = listed
                .iter()
                .filter_map(|m| m.location.filename()?.strip_suffix(".json")?.parse().ok())
                .collect();
            epochs.sort_unstable();
            Ok(epochs)
        })
    }

    fn read<'a>(&'a self, key: &'a str, epoch: u64) -> StoreFuture<'a, Option<Stored>> {
        Box::pin(async move {
            let got = match self.store.get(&self.path(key, epoch)).await {
                Ok(got) => got,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(io(e)),
            };
            let modified: DateTime<Utc> = got.meta.last_modified;
            let bytes = got.bytes().await.map_err(io)?;
            Ok(Some(Stored {
                text: String::from_utf8_lossy(&bytes).into_owned(),
                modified,
            }))
        })
    }

    fn create<'a>(&'a self, key: &'a str, epoch: u64, text: String) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let options = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            let payload = PutPayload::from(Bytes::from(text));
            match self
                .store
                .put_opts(&self.path(key, epoch), payload, options)
                .await
            {
                Ok(_) => Ok(true),
                Err(object_store::Error::AlreadyExists { .. })
                | Err(object_store::Error::Precondition { .. }) => Ok(false),
                Err(e) => Err(io(e)),
            }
        })
    }

    fn replace<'a>(&'a self, key: &'a str, epoch: u64, text: String) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let payload = PutPayload::from(Bytes::from(text));
            self.store
                .put(&self.path(key, epoch), payload)
                .await
                .map(|_| ())
                .map_err(io)
        })
    }

    fn remove<'a>(&'a self, key: &'a str, epoch: u64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            match self.store.delete(&self.path(key, epoch)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(io(e)),
            }
        })
    }

    fn describe(&self, key: &str) -> String {
        format!("{}/{key}", self.shown)
    }
}

/// Writes a probe object at the store's root and removes it again: proves the lake writable, not just
/// reachable.
pub async fn probe(store: &dyn ObjectStore) -> Result<(), object_store::Error> {
    let path = Path::from(format!(".notion-sync-probe-{}", uuid::Uuid::new_v4()));
    store.put(&path, PutPayload::from_static(b"probe")).await?;
    store.delete(&path).await
}

/// What an object store's failure means for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The store refused the credentials (401/403).
    Denied,
    /// The bucket or container does not exist.
    Missing,
    /// The endpoint could not be reached (connection refused, DNS, timeout).
    Unreachable,
}

/// The [`Fault`] behind `error`, found by walking its sources (delta-rs wraps the store's error).
pub fn fault(error: &(dyn std::error::Error + 'static)) -> Option<Fault> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(e) = e.downcast_ref::<object_store::Error>() {
            match e {
                object_store::Error::Unauthenticated { .. }
                | object_store::Error::PermissionDenied { .. } => return Some(Fault::Denied),
                object_store::Error::NotFound { .. } if bucket_missing(e) => {
                    return Some(Fault::Missing);
                }
                _ => {}
            }
        }
        if let Some(e) = e.downcast_ref::<std::io::Error>()
            && matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkUnreachable
            )
        {
            return Some(Fault::Unreachable);
        }
        if let Some(e) = e.downcast_ref::<reqwest::Error>()
            && (e.is_connect() || e.is_timeout())
        {
            return Some(Fault::Unreachable);
        }
        current = e.source();
    }
    // The Delta kernel keeps an object-store error it met while reading a log only as text (its error
    // has no source), so those are recognised by the object_store crate's own messages.
    let text = error.to_string();
    if text.contains("lacked the necessary privileges")
        || text.contains("lacked valid authentication")
    {
        return Some(Fault::Denied);
    }
    if MISSING_CODES.iter().any(|code| text.contains(code)) {
        return Some(Fault::Missing);
    }
    if text.contains("error sending request") {
        return Some(Fault::Unreachable);
    }
    None
}

/// How the stores say a bucket or container does not exist (S3, Azure, GCS).
const MISSING_CODES: [&str; 3] = ["NoSuchBucket", "ContainerNotFound", "bucket does not exist"];

/// Whether a not-found error is about the bucket or container rather than an object: the stores answer
/// with their own error codes (S3 `NoSuchBucket`, Azure `ContainerNotFound`, GCS "bucket does not exist").
fn bucket_missing(e: &object_store::Error) -> bool {
    let text = format!("{e:?}");
    MISSING_CODES.iter().any(|code| text.contains(code))
}

/// The variables an operator fixes for `fault` on `store`.
pub fn hint(store: Store, fault: Fault) -> &'static str {
    match (store, fault) {
        (Store::S3, Fault::Denied) => {
            "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE / AWS_ROLE_ARN) and the \
             identity's permissions on the bucket"
        }
        (Store::Azure, Fault::Denied) => {
            "check AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY (or AZURE_CLIENT_ID, \
             AZURE_CLIENT_SECRET and AZURE_TENANT_ID, or AZURE_STORAGE_SAS_KEY) and the identity's role on \
             the container"
        }
        (Store::Gcs, Fault::Denied) => {
            "check GOOGLE_SERVICE_ACCOUNT / GOOGLE_SERVICE_ACCOUNT_KEY (or \
             GOOGLE_APPLICATION_CREDENTIALS) and the account's role on the bucket"
        }
        (_, Fault::Missing) => {
            "the bucket or container in LAKEHOUSE_URI does not exist: create it or fix LAKEHOUSE_URI"
        }
        (Store::S3, Fault::Unreachable) => {
            "the object store could not be reached: check AWS_ENDPOINT_URL (or AWS_REGION) and the network"
        }
        (Store::Azure, Fault::Unreachable) => {
            "the object store could not be reached: check AZURE_STORAGE_ACCOUNT_NAME (and \
             AZURE_STORAGE_USE_EMULATOR) and the network"
        }
        (_, Fault::Unreachable) => "the object store could not be reached: check the network",
        (_, Fault::Denied) => "the object store refused the credentials",
    }
}
