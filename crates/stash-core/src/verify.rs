//! `verify` and `repair`: walk every entry, report the damaged ones without
//! stopping, and (on repair) remove them, leaving the rest intact.

use stash_serial::Value;

use crate::engine::EntryMeta;
use crate::error::{Error, Result};
use crate::stash::Stash;

/// What [`Stash::verify`] or [`Stash::repair`] found.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Entries whose key and every kept version decoded.
    pub healthy: u64,
    /// Versions checked over all entries.
    pub versions: u64,
    /// Entries that failed, each with why (the error names the digest, and the
    /// file where the engine has one).
    pub damaged: Vec<DamagedEntry>,
    /// Whether damaged entries were removed ([`Stash::repair`]).
    pub repaired: bool,
}

impl VerifyReport {
    /// Whether every entry read back.
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty()
    }
}

/// One entry [`Stash::verify`] could not read back.
#[derive(Debug)]
#[non_exhaustive]
pub struct DamagedEntry {
    /// The entry, when its metadata could be read (a damaged slot whose key
    /// cannot be read at all is reported by its error alone).
    pub meta: Option<EntryMeta>,
    /// Why it failed.
    pub error: Error,
    /// Whether [`Stash::repair`] removed it.
    pub removed: bool,
}

impl Stash {
    /// Reads every entry back (its key, and every kept version of its value)
    /// and reports those that fail, without stopping at the first: a damaged
    /// file, bytes that do not decompress, a value that does not decode.
    /// Values of a self-describing serializer are decoded in full (as
    /// [`Value`]); `postcard` values, which need their type, are checked down to
    /// their serialized bytes. Expired entries are not checked.
    ///
    /// Cost: one metadata scan and one read of every version.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # let dir = tempfile::tempdir()?;
    /// # let mut cfg = stash_core::StashConfig::default();
    /// # cfg.root_dir = dir.path().into();
    /// # cfg.engine = "memory".into();
    /// # let stash = stash_core::Stash::open(cfg, Arc::new(stash_engine_memory::Memory))?;
    /// stash.set("good", "value")?;
    /// let bad = stash.encode_key("bad")?;
    /// stash.engine().put(&bad.digest, &bad.bytes, b"\xff not lz4", Default::default())?;
    /// let report = stash.verify()?;
    /// assert_eq!((report.healthy, report.damaged.len()), (1, 1));
    /// let repaired = stash.repair()?;
    /// assert!(repaired.damaged[0].removed);
    /// assert!(stash.verify()?.is_clean());
    /// assert_eq!(stash.get::<_, String>("good")?.as_deref(), Some("value"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify(&self) -> Result<VerifyReport> {
        self.check_all(false)
    }

    /// [`verify`](Stash::verify), then removes every damaged entry whose key
    /// could be read ([`DamagedEntry::removed`] says which), so the rest of the
    /// stash reads cleanly. Entries whose metadata cannot be read at all are
    /// reported and left (the engine cannot address them).
    pub fn repair(&self) -> Result<VerifyReport> {
        self.check_all(true)
    }

    fn check_all(&self, repair: bool) -> Result<VerifyReport> {
        let mut report = VerifyReport { repaired: repair, ..VerifyReport::default() };
        for meta in self.engine().scan_meta().map_err(|e| self.context(e))? {
            let meta = match meta {
                Ok(meta) => meta,
                Err(error) => {
                    report.damaged.push(DamagedEntry {
                        meta: None,
                        error: self.context(error),
                        removed: false,
                    });
                    continue;
                }
            };
            if crate::clock::is_expired(meta.expires_at_micros, crate::clock::now_micros()) {
                continue;
            }
            match self.check_one(&meta) {
                Ok(versions) => {
                    report.healthy += 1;
                    report.versions = report.versions.saturating_add(versions);
                }
                Err(error) => {
                    let error = error.with_context("digest", meta.digest);
                    let removed = repair && self.engine().delete(&meta.digest, &meta.key).unwrap_or(false);
                    report.damaged.push(DamagedEntry { meta: Some(meta), error, removed });
                }
            }
        }
        Ok(report)
    }

    /// Reads one entry back; returns how many versions it keeps.
    fn check_one(&self, meta: &EntryMeta) -> Result<u64> {
        self.check_bytes(&meta.key)?;
        // A bulk read: past the life cycle layer (not counted, not recent use).
        let versions =
            self.lifecycle().inner().versions(&meta.digest, &meta.key).map_err(|e| self.context(e))?;
        let versions = versions.unwrap_or_default();
        for version in &versions {
            self.check_bytes(&version.value).map_err(|e| e.with_context("version", version.number))?;
        }
        Ok(versions.len() as u64)
    }

    /// Decodes stored bytes as far as the serializer allows without a type.
    fn check_bytes(&self, bytes: &[u8]) -> Result<()> {
        if self.serializer().is_self_describing() {
            self.decode_value::<Value>(bytes).map(drop)
        } else {
            // The encoding stops at `max_value_bytes`, as every read does.
            self.encoding()
                .decode_to_vec(bytes)
                .map(drop)
                .map_err(|e| self.context(crate::formats::codec_error(e)))
        }
    }
}
