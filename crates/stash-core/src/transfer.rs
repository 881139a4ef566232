//! Moving entries between stashes: `copy_to` and `migrate`, across engines,
//! serializers and compressors, and iteration over every kept version.

use serde::de::DeserializeOwned;
use stash_serial::Value;

use crate::error::{Error, Result};
use crate::lifecycle::SetOptions;
use crate::stash::{EncodedKey, Stash, Versioned};

/// What a [`Stash::migrate`] did, or in a dry run would do.
#[derive(Debug, Default)]
pub struct MigrateReport {
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// Entries read from the source.
    pub entries: usize,
    /// Versions written to (or, in a dry run, convertible for) the target.
    pub versions: usize,
    /// Entries that could not be converted, with why; the rest are migrated anyway.
    pub failures: Vec<Error>,
}

impl Stash {
    /// The key `key` (as this stash stores it) has in `target`, re-encoded
    /// canonically: a key written non-canonically (by an older writer or another
    /// program, say a map with unsorted fields) is found by `get` in the target,
    /// so moving entries is also how such a stash is repaired, as in the Python
    /// library's legacy recovery. A key of a serializer that is not
    /// self-describing (`postcard`) cannot be decoded without its type, and is
    /// copied as stored when the target uses the same serializer and encoding.
    pub(crate) fn key_for(&self, target: &Stash, key: &[u8]) -> Result<EncodedKey> {
        let same_bytes = self.config().serializer == target.config().serializer
            && self.encoding().label() == target.encoding().label();
        if same_bytes && !self.serializer().is_self_describing() {
            return Ok(EncodedKey { bytes: key.to_vec(), digest: target.config().digest.digest(key) });
        }
        target.encode_key(&self.decode_key::<Value>(key)?)
    }

    /// Copies every entry into `other`, which may use another engine,
    /// serializer or compressor; returns how many entries were copied. Keys are
    /// re-encoded canonically on the way (see [`Stash::migrate`]).
    /// Same as `other.update_from(self)`: only the newest version of each key
    /// is copied (use [`Stash::migrate`] to keep append-mode histories).
    pub fn copy_to(&self, other: &Stash) -> Result<usize> {
        other.update_from(self)
    }

    /// Moves the contents of this stash into `target` (another configuration:
    /// engine, serializer, compressor), every version of every key in order.
    /// With `dry_run`, every entry is read and converted but nothing is written,
    /// so the report tells what would fail. An entry that fails (a value that
    /// does not decode) is reported in [`MigrateReport::failures`] and skipped;
    /// the source is never modified.
    ///
    /// Converting between serializers decodes entries as [`Value`], which needs
    /// a self-describing source serializer (`hashstash`, `json`, `msgpack`).
    /// Keys are always re-encoded canonically (decoded as [`Value`] and encoded
    /// again, at about the cost of one `get` per entry), so an entry whose key
    /// was written non-canonically becomes reachable in the target.
    pub fn migrate(&self, target: &Stash, dry_run: bool) -> Result<MigrateReport> {
        let mut report = MigrateReport { dry_run, ..MigrateReport::default() };
        let same_bytes = self.config().serializer == target.config().serializer
            && self.encoding().label() == target.encoding().label();
        for key in self.raw_keys()? {
            let key = key?;
            report.entries += 1;
            match self.migrate_one(target, &key, same_bytes, dry_run) {
                Ok(n) => report.versions += n,
                Err(e) => report.failures.push(e),
            }
        }
        if !dry_run {
            target.flush()?;
        }
        Ok(report)
    }

    /// Migrates the versions of one encoded key; returns how many.
    fn migrate_one(&self, target: &Stash, key: &[u8], same_bytes: bool, dry_run: bool) -> Result<usize> {
        let digest = self.config().digest.digest(key);
        // A bulk read, not a lookup: past the life cycle layer, so neither counted
        // nor taken as recent use by least-recently-read eviction.
        let versions =
            self.lifecycle().inner().versions(&digest, key).map_err(|e| self.context(e))?.unwrap_or_default();
        let append = versions.len() > 1;
        let target_key = self.key_for(target, key)?;
        let mut encoded = Vec::with_capacity(versions.len());
        for v in &versions {
            let bytes = if same_bytes {
                v.value.clone()
            } else {
                let value: Value =
                    self.decode_value(&v.value).map_err(|e| e.with_context("version", v.number))?;
                target.encode_value(&value)?
            };
            encoded.push(bytes);
        }
        if dry_run {
            return Ok(encoded.len());
        }
        let mut options = target.resolve(SetOptions::new().append(append))?;
        for (i, bytes) in encoded.iter().enumerate() {
            // The first version replaces whatever the target held under this key.
            options.append = append && i > 0;
            target
                .engine()
                .put(&target_key.digest, &target_key.bytes, bytes, options)
                .map_err(|e| target.context(e).with_context("digest", target_key.digest))?;
        }
        Ok(encoded.len())
    }

    /// Streams every kept version of every key, `(key, version)`, oldest version
    /// first within a key: what tables with all versions are built from.
    /// (The key is decoded once per version, so `K` needs no `Clone`.)
    pub fn all_versions<K: DeserializeOwned, V: DeserializeOwned>(
        &self,
    ) -> Result<impl Iterator<Item = Result<(K, Versioned<V>)>> + use<K, V>> {
        let this = self.clone();
        let keys = self.raw_keys()?;
        Ok(keys.flat_map(move |key| -> Vec<Result<(K, Versioned<V>)>> {
            let key = match key {
                Ok(key) => key,
                Err(e) => return vec![Err(e)],
            };
            let digest = this.config().digest.digest(&key);
            // A bulk read: past the life cycle layer (not counted, not recent use).
            let versions = match this.lifecycle().inner().versions(&digest, &key) {
                Ok(v) => v.unwrap_or_default(),
                Err(e) => return vec![Err(this.context(e).with_context("digest", digest))],
            };
            versions
                .into_iter()
                .map(|v| {
                    let value =
                        this.decode_value(&v.value).map_err(|e| e.with_context("version", v.number))?;
                    Ok((
                        this.decode_key(&key)?,
                        Versioned { version: v.number, written_at: v.written_at(), value },
                    ))
                })
                .collect()
        }))
    }
}
