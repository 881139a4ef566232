//! The `lmdb` engine: a stash in one [LMDB](http://www.lmdb.tech/doc/)
//! environment (through [heed](https://docs.rs/heed)), a memory-mapped
//! B-tree with MVCC: readers never block writers, writers (threads or
//! processes) take turns, and every commit is atomic.
//!
//! ```
//! use std::sync::Arc;
//! use stash_core::{Stash, StashConfig};
//! use stash_engine_lmdb::Lmdb;
//!
//! let dir = tempfile::tempdir()?;
//! let mut config = StashConfig::default();
//! config.engine = "lmdb".into();
//! config.root_dir = dir.path().into();
//! let stash = Stash::open(config, Arc::new(Lmdb))?;
//! stash.set("cat", &"meow")?;
//! assert_eq!(stash.get::<_, String>("cat")?.as_deref(), Some("meow"));
//! assert_eq!(stash.len()?, 1);
//! assert!(stash.path().join("data.mdb").is_file());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # On disk
//!
//! ```text
//! .../lmdb.hashstash.lz4/data.db/     the environment folder
//! ├── data.mdb                        the B-tree (sparse: grows as data is written)
//! └── lock.mdb                        LMDB's reader table and writer mutex
//! ```
//!
//! The unnamed database holds **one record per key**. LMDB keys are limited
//! to 511 bytes, so the LMDB key is the 16-byte digest of the encoded key
//! and the record carries the encoded key itself (checked on every lookup:
//! a digest collision or a damaged record is reported, never returned as
//! another key's value) followed by the versions, oldest first:
//!
//! ```text
//! u8 format = 1 │ u32 LE key length │ key │ u32 LE version count N
//! N × ( i64 LE micros since the epoch │ u64 LE value length │ value )
//! ```
//!
//! A replacing write stores one version, written in place into LMDB's
//! reserved space; an appending write copies the record and adds a version.
//! Either is stamped after the newest version it replaces or follows, even
//! if the clock is behind it (another process's clock, a step back), so
//! eviction and `prune`, which delete only what was not written after their
//! scan, never remove it. A get walks the version headers (not the
//! values) to the newest. This layout is not the Python library's (two
//! records per key, `<md5hex>.key` and `<md5hex>.value`); records of another
//! layout are reported as `Corrupt` when met. A damaged record (`Corrupt`
//! on read, naming the file and digest) is repaired by a replacing write or
//! removed by a delete; an appending write does not build on it.
//!
//! # The Python library's layout
//!
//! A stash opened with `StashConfig::python_compatible` (serializer
//! `hashstash`, digest `md5`) uses the layout of the Python library instead,
//! so Python hashstash 1.2 reads and writes it too ([`PythonLmdbEngine`]):
//! two records per key in the unnamed database, `<md5 hex>.key` (the encoded
//! key) and `<md5 hex>.value` (the encoded envelope
//! `{"__hs_v1__":true,"_fv":1,"_values":[...],"_written_at":[...]}` holding
//! every kept version and its write time in Unix seconds). Expiry is kept
//! as an extra envelope field `_expires_at` that Python ignores. lz4 keys are
//! recompressed as LZ4 1.9.4 (Python's) compresses them, so their bytes and md5 are Python's.
//! See `docs/interop.md`.
//!
//! # Concurrency
//!
//! - **One environment per path per process.** LMDB forbids opening one
//!   environment twice in a process, so every handle on a path shares one
//!   (a process-wide registry of weak references; the environment closes
//!   with its last handle or iterator).
//! - **Readers never block writers**: each read runs in a short read
//!   transaction on a snapshot. Writes are serialised by LMDB's writer
//!   mutex in `lock.mdb`, across threads and processes alike: several
//!   processes may read and write one stash at once, and an append from one
//!   never loses another's version.
//! - **Iteration** reads chunks of up to 1024 records, each in its own read
//!   transaction, resuming after the last key seen: nothing is held between
//!   items, so the caller may write while iterating. Keys come in digest
//!   order, each at most once; keys written meanwhile may or may not appear.
//! - **The map grows by itself.** The map starts at 64 MiB
//!   ([`LmdbOptions::map_size`]); on `MDB_MAP_FULL` the transaction is
//!   aborted, the map doubled and the transaction replayed, up to 1 TiB
//!   ([`LmdbOptions::max_map_size`], past which writes fail with a `Backend`
//!   error naming the file). Resizing is only sound with no transaction open
//!   in the process, so every transaction holds a shared guard and the
//!   resize takes it exclusively. When another process grew the map
//!   (`MDB_MAP_RESIZED`), the new size is adopted the same way.
//! - **Group commit.** Writes of one process that arrive while another of its
//!   writes is committing join the next commit (`stash_engine_api::group_commit`):
//!   one waiting thread leads, runs every waiting `put`, `put_many`,
//!   `put_if_absent`, `delete` and `delete_unless_rewritten` in one write
//!   transaction, and each call returns its own result once that transaction
//!   committed, with the environment's durability. A write that fails (another
//!   key's slot, a value too large for the map) fails alone; the others are
//!   stored. A thread writing alone runs its write at once, as before. Both
//!   layouts group: the Python layout's writes ([`PythonLmdbEngine`]) share the
//!   environment's queue, each stored in the layout of the handle that made it,
//!   with the same bytes as when written alone.
//!
//! # Durability and costs
//!
//! [`Durability::Full`] (the default) syncs at every commit: a durable set
//! costs two `fsync`s (a few hundred µs to several ms depending on the
//! disk), so write in batches (`Stash::update`, `Stash::batch`): a batch is
//! one transaction, one commit. Threads writing at once share commits (group
//! commit, above), so 8 threads of durable sets pay far fewer syncs than 8. [`Durability::Relaxed`] skips the syncs
//! (`MDB_NOSYNC | MDB_NOMETASYNC`) for caches that can be rebuilt: a
//! process crash loses nothing, an OS crash or power loss may lose the last
//! commits, and the database stays consistent. Gets and iteration copy
//! bytes out of the map; `len` reads the database's entry count (no scan).
//!
//! Errors name the data file: a file that is not an LMDB database is
//! `Corrupt`, an unwritable folder or a full disk is `Io`.
//!
//! # A truncated data file kills the process
//!
//! LMDB reads `data.mdb` through a memory map. When another program
//! truncates the file (or copies a shorter file over it) while a process
//! has the stash open, that process's next read of a page past the new end
//! is not an error anyone can catch: the operating system kills the whole
//! process with `SIGBUS`. So, while any process may have the stash open:
//!
//! - **do not** truncate, overwrite or restore `data.mdb` in place (no
//!   `truncate`, no `cp backup data.mdb`, no editor saving over it), and do
//!   not keep the stash on a network filesystem;
//! - **do** use the stash's own operations to empty it (`Stash::clear`), or
//!   delete the folder: deleting is safe, a process that has the file open
//!   keeps reading the old one until it closes it; restore a copy only while
//!   no process has the stash open.
//!
//! What the engine checks: when it opens an environment (the first handle of
//! this process on a path), before LMDB maps the file, it compares the
//! file's size with the pages the database says it uses (the newest meta
//! page's last page number times the page size; LMDB may leave free pages at
//! the end unwritten, and those are looked up in its free-page list). A
//! shorter file is refused with a `Corrupt` error naming it, and left as it
//! is: restore it from a copy, or remove the stash's folder to start over (a
//! cache can be rebuilt). A file truncated while this process already has it
//! open cannot be caught this way: the check runs at open only.
//!
//! # A damaged page may kill the process too
//!
//! LMDB keeps no checksums and trusts its pages. A `get` of a key on a
//! damaged page is usually a `Corrupt` error (or, when the damage is inside a
//! value, a `Corrupt` or `Decode` error, or a value that decodes to something
//! else). A walk (`len` while entries expire, iteration, `stats`) stops with
//! a `Corrupt` error at the first key out of order or of the wrong length, a
//! sign that the cursor reached damage. But damage that LMDB's cursor follows
//! before it hands a key over (a zeroed leaf page in a debug build, node
//! headers overwritten with garbage) crashes the process (`SIGSEGV`, or
//! `SIGABRT` on an assertion of LMDB's debug build). `cargo xtask reliability
//! flips` measures how often, over random damage.
#![deny(missing_docs)]

mod check;
mod engine;
mod env;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod group;
mod options;
mod python;
mod record;
mod registry;
mod scan;

pub use engine::LmdbEngine;
pub use options::{DEFAULT_MAP_SIZE, DEFAULT_MAX_MAP_SIZE, Durability, Lmdb, LmdbOptions};
pub use python::PythonLmdbEngine;
