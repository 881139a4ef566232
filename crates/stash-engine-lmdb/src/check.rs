//! The size check run before an environment is opened: a data file shorter
//! than the pages its database uses is refused with a `Corrupt` error
//! instead of being mapped. LMDB reads its pages through a memory map, and
//! reading a mapped page that lies past the end of the file kills the
//! process with `SIGBUS` (see "A truncated data file" in the crate docs).
//!
//! The check reads the file with plain reads (`pread`), never through a map:
//!
//! 1. The two meta pages give the page size and, in the newer one, the last
//!    page number the database has allocated (`mm_last_pg`, what
//!    `mdb_env_info` reports as `me_last_pgno`). A file that holds every page
//!    up to it is fine: the common case, two small reads.
//! 2. A file may legitimately end before that page: LMDB does not write the
//!    pages a transaction allocated at the end of the file and freed again
//!    before it committed, and lists them in its free-page database instead
//!    (LMDB's own comment on `mm_last_pg`: "the file may be shorter if the
//!    freeDB lists the final pages"). So when the file is short, the free
//!    database is walked (its pages read with `pread`, each checked to lie
//!    inside the file): the file is sound exactly when every missing page is
//!    a free page, which no reader of the newest snapshot ever touches.
//!
//! Anything else is a truncated file: `Corrupt`, naming it. Files that are
//! not LMDB files at all (another magic number or version) are left to LMDB,
//! which refuses them with its own `Corrupt` error.
//!
//! The structures read are LMDB's native-endian on-disk format for 64-bit
//! builds (`MDB_page`, `MDB_meta`, `MDB_db`, `MDB_node` of `mdb.c`); on other
//! targets the check is skipped.

use std::fs::File;
use std::path::Path;

use stash_engine_api::{Error, ErrorKind, Result};

/// Checks that the data file `file` holds every page its newest snapshot
/// uses; `Ok` for a missing or empty file (a new environment).
pub(crate) fn data_file_size(file: &Path) -> Result<()> {
    #[cfg(target_pointer_width = "64")]
    {
        layout::check(file)
    }
    #[cfg(not(target_pointer_width = "64"))]
    {
        let _ = file;
        Ok(())
    }
}

/// The error for a data file shorter than the pages its database uses.
fn truncated(file: &Path, len: u64, detail: &str) -> Error {
    Error::new(
        ErrorKind::Corrupt,
        format!(
            "the LMDB data file is shorter than the database it holds ({len} bytes; {detail}): \
             it was truncated by another program or lost writes in a system crash, and mapping it \
             would crash the process; restore it from a copy or remove the stash's folder to start over"
        ),
    )
    .with_context("file", file.display())
}

fn read_error(file: &Path, err: std::io::Error) -> Error {
    Error::io(err, "read the LMDB data file", file)
}

#[cfg(target_pointer_width = "64")]
mod layout {
    use std::os::unix::fs::FileExt;

    use super::*;

    /// `MDB_MAGIC`.
    const MAGIC: u32 = 0xBEEF_C0DE;
    /// `MDB_DATA_VERSION` (the build without `MDB_DEVEL`).
    const DATA_VERSION: u32 = 1;
    /// `PAGEHDRSZ`: `mp_pgno` u64, `mp_pad` u16, `mp_flags` u16, `mp_lower`/`mp_upper` u16 (or `mp_pages` u32).
    const PAGE_HEADER: usize = 16;
    /// The header of a meta page and its `MDB_meta` up to `mm_txnid` included.
    const META_BYTES: usize = PAGE_HEADER + 136;
    /// `NODESIZE`: `mn_lo`, `mn_hi`, `mn_flags`, `mn_ksize`, all u16.
    const NODE_HEADER: usize = 8;
    const P_BRANCH: u16 = 0x01;
    const P_LEAF: u16 = 0x02;
    const P_OVERFLOW: u16 = 0x04;
    const P_META: u16 = 0x08;
    const F_BIGDATA: u16 = 0x01;
    /// `P_INVALID`: the root of an empty tree.
    const NO_PAGE: u64 = u64::MAX;
    /// How many times the check starts again when a writer of another process
    /// committed while the free database was being read.
    const TRIES: usize = 4;

    fn u16_at(b: &[u8], at: usize) -> Option<u16> {
        Some(u16::from_ne_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
    }

    fn u32_at(b: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_ne_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
    }

    fn u64_at(b: &[u8], at: usize) -> Option<u64> {
        Some(u64::from_ne_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
    }

    /// What the check needs of one meta page.
    #[derive(Debug, Clone, Copy)]
    struct Meta {
        page_size: u64,
        /// The root page of the free-page database (`mm_dbs[FREE_DBI].md_root`).
        free_root: u64,
        last_page: u64,
        txn: u64,
    }

    /// Parses the meta page at the start of `b`; `None` if it is not an LMDB
    /// meta page of this format (left for LMDB to refuse).
    fn meta(b: &[u8]) -> Option<Meta> {
        if u16_at(b, 10)? & P_META == 0 || u32_at(b, 16)? != MAGIC || u32_at(b, 20)? != DATA_VERSION {
            return None;
        }
        Some(Meta {
            page_size: u64::from(u32_at(b, 40)?),
            free_root: u64_at(b, 80)?,
            last_page: u64_at(b, 136)?,
            txn: u64_at(b, 144)?,
        })
    }

    /// Reads up to `buf.len()` bytes at `at`; returns how many were read (short at the end of the file).
    fn read_at(f: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match f.read_at(&mut buf[done..], at + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// The newer of the two meta pages, or `None` when LMDB is left to judge the file.
    fn newest_meta(f: &File, file: &Path, len: u64) -> Result<Option<Meta>> {
        let mut buf = [0u8; META_BYTES];
        if read_at(f, &mut buf, 0).map_err(|e| read_error(file, e))? < META_BYTES {
            return Ok(None); // LMDB: "not an LMDB database"
        }
        let Some(first) = meta(&buf) else { return Ok(None) };
        if !first.page_size.is_power_of_two() || !(512..=65536).contains(&first.page_size) {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!("the LMDB data file's meta page gives a page size of {} bytes", first.page_size),
            )
            .with_context("file", file.display()));
        }
        if read_at(f, &mut buf, first.page_size).map_err(|e| read_error(file, e))? < META_BYTES {
            return Err(truncated(file, len, "it ends inside its second meta page"));
        }
        let Some(second) = meta(&buf) else { return Ok(None) };
        // As `mdb_env_pick_meta` does.
        Ok(Some(if first.txn < second.txn { second } else { first }))
    }

    /// What tests look at in the newest meta page.
    #[cfg(test)]
    #[derive(Debug)]
    pub(super) struct TestMeta {
        pub last_page: u64,
        pub page_size: u64,
        /// The root page of the main database.
        pub main_root: u64,
        /// The free-page database's depth and overflow pages.
        pub free_depth: u16,
        pub free_overflow_pages: u64,
    }

    #[cfg(test)]
    pub(super) fn newest_meta_for_tests(f: &File, file: &Path, len: u64) -> TestMeta {
        let meta = newest_meta(f, file, len).unwrap().unwrap();
        let mut buf = [0u8; META_BYTES];
        let at = if meta.txn.is_multiple_of(2) { 0 } else { meta.page_size };
        read_at(f, &mut buf, at).unwrap();
        assert_eq!(u64_at(&buf, 144), Some(meta.txn), "the meta page of transaction n is page n % 2");
        TestMeta {
            last_page: meta.last_page,
            page_size: meta.page_size,
            main_root: u64_at(&buf, 128).unwrap(),
            free_depth: u16_at(&buf, 46).unwrap(),
            free_overflow_pages: u64_at(&buf, 64).unwrap(),
        }
    }

    pub(super) fn check(file: &Path) -> Result<()> {
        let f = match File::open(file) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(e, "open the LMDB data file", file)),
        };
        for _ in 0..TRIES {
            let len = f.metadata().map_err(|e| read_error(file, e))?.len();
            if len == 0 {
                return Ok(()); // a new environment: LMDB writes its meta pages
            }
            let Some(meta) = newest_meta(&f, file, len)? else { return Ok(()) };
            let psize = meta.page_size;
            let needed = meta.last_page.checked_add(1).and_then(|pages| pages.checked_mul(psize));
            let Some(needed) = needed else {
                return Err(truncated(file, len, "its meta page gives an impossible last page"));
            };
            if len >= needed {
                return Ok(());
            }
            match missing_pages_are_free(&f, len, &meta) {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    return Err(truncated(
                        file,
                        len,
                        &format!("its pages need {needed} bytes and the missing ones are not free pages"),
                    ));
                }
                // A writer in another process may have reused the pages read;
                // start again if the newest snapshot changed.
                Err(detail) => {
                    let now = newest_meta(&f, file, len)?.map(|m| m.txn);
                    if now == Some(meta.txn) {
                        return Err(truncated(file, len, detail));
                    }
                }
            }
        }
        Err(Error::new(
            ErrorKind::Backend,
            "cannot check the LMDB data file's size: other processes kept committing while it was read",
        )
        .with_context("file", file.display()))
    }

    /// Walks the free-page database of `meta` with plain reads: whether every
    /// page past the end of the file (up to the last page) is listed as free.
    /// `Err` for a free database that cannot be read from the file (a page
    /// past its end or not the page expected).
    fn missing_pages_are_free(f: &File, len: u64, meta: &Meta) -> Result<bool, &'static str> {
        let psize = meta.page_size;
        let in_file = len / psize;
        let missing = meta.last_page + 1 - in_file;
        if meta.free_root == NO_PAGE {
            return Ok(false);
        }
        let page_len = usize::try_from(psize).map_err(|_| "page size out of range")?;
        let mut page = vec![0u8; page_len];
        let read_page = |page: &mut [u8], pgno: u64| -> Result<(), &'static str> {
            if pgno >= in_file {
                return Err("a page of its free-page list lies past its end");
            }
            match read_at(f, page, pgno * psize) {
                Ok(n) if n == page.len() => Ok(()),
                _ => Err("a page of its free-page list cannot be read"),
            }
        };
        let mut free: Vec<u64> = Vec::new();
        let mut stack = vec![meta.free_root];
        // A sound tree names each of its pages once, and they all lie in the
        // file: more is a cycle (and would grow the stack without bound).
        let mut budget = in_file;
        while let Some(pgno) = stack.pop() {
            read_page(&mut page, pgno)?;
            if u64_at(&page, 0) != Some(pgno) {
                return Err("a page of its free-page list is not the page expected");
            }
            let flags = u16_at(&page, 10).ok_or("short page")?;
            let lower = usize::from(u16_at(&page, 12).ok_or("short page")?);
            if lower < PAGE_HEADER || lower > page.len() {
                return Err("a page of its free-page list has a damaged header");
            }
            let keys = (lower - PAGE_HEADER) / 2;
            for i in 0..keys {
                let node = usize::from(u16_at(&page, PAGE_HEADER + 2 * i).ok_or("short page")?);
                let bad = "a node of its free-page list is damaged";
                let lo = u64::from(u16_at(&page, node).ok_or(bad)?);
                let hi = u64::from(u16_at(&page, node + 2).ok_or(bad)?);
                let node_flags = u16_at(&page, node + 4).ok_or(bad)?;
                let key_len = usize::from(u16_at(&page, node + 6).ok_or(bad)?);
                if flags & P_BRANCH != 0 {
                    // NODEPGNO: the child page number in lo, hi and flags.
                    budget = budget.checked_sub(1).ok_or("its free-page list loops")?;
                    stack.push(lo | hi << 16 | u64::from(node_flags) << 32);
                } else if flags & P_LEAF != 0 {
                    let data_len = lo | hi << 16;
                    let data_at = node + NODE_HEADER + key_len;
                    if node_flags & F_BIGDATA != 0 {
                        let first = u64_at(&page, data_at).ok_or(bad)?;
                        free_ids_in_overflow(f, first, data_len, psize, in_file, &mut free, meta.last_page)?;
                    } else {
                        let end =
                            usize::try_from(data_len).ok().and_then(|l| data_at.checked_add(l)).ok_or(bad)?;
                        let ids = page.get(data_at..end).ok_or(bad)?;
                        collect_ids(ids, in_file, meta.last_page, &mut free)?;
                    }
                } else {
                    return Err("a page of its free-page list is neither a branch nor a leaf");
                }
            }
        }
        free.sort_unstable();
        free.dedup();
        Ok(free.len() as u64 == missing)
    }

    /// Adds the page numbers of an `MDB_IDL` (count, then ids) that lie in `in_file..=last`.
    fn collect_ids(idl: &[u8], in_file: u64, last: u64, free: &mut Vec<u64>) -> Result<(), &'static str> {
        let count = u64_at(idl, 0).ok_or("a free-page list is damaged")?;
        let ids = &idl[8..];
        if count.checked_mul(8).is_none_or(|bytes| bytes > ids.len() as u64) {
            return Err("a free-page list is longer than its record");
        }
        free.extend(
            ids.chunks_exact(8)
                .take(count as usize)
                .filter_map(|id| id.try_into().ok().map(u64::from_ne_bytes))
                .filter(|id| (in_file..=last).contains(id)),
        );
        Ok(())
    }

    /// Reads a free-page list kept on overflow pages, one page at a time
    /// (its length is checked against the file before anything is read).
    fn free_ids_in_overflow(
        f: &File,
        first: u64,
        data_len: u64,
        psize: u64,
        in_file: u64,
        free: &mut Vec<u64>,
        last: u64,
    ) -> Result<(), &'static str> {
        let past = "a free-page list on overflow pages lies past the end of the file";
        let mut header = [0u8; PAGE_HEADER];
        if first >= in_file {
            return Err(past);
        }
        match read_at(f, &mut header, first * psize) {
            Ok(n) if n == PAGE_HEADER => {}
            _ => return Err(past),
        }
        let pages = u64::from(u32_at(&header, 12).ok_or(past)?);
        if u64_at(&header, 0) != Some(first) || u16_at(&header, 10).is_none_or(|fl| fl & P_OVERFLOW == 0) {
            return Err("an overflow page of its free-page list is not the page expected");
        }
        let end = first.checked_add(pages).ok_or(past)?;
        if end > in_file || (PAGE_HEADER as u64).checked_add(data_len).is_none_or(|n| n > pages * psize) {
            return Err(past);
        }
        // The list: a count, then the ids; read in chunks of whole ids.
        let start = first * psize + PAGE_HEADER as u64;
        let mut count = [0u8; 8];
        if data_len < 8 || read_at(f, &mut count, start).ok() != Some(8) {
            return Err("a free-page list is damaged");
        }
        let count = u64::from_ne_bytes(count);
        if count.checked_mul(8).is_none_or(|bytes| bytes > data_len - 8) {
            return Err("a free-page list is longer than its record");
        }
        let mut chunk = vec![0u8; 64 << 10];
        let (mut at, mut left) = (start + 8, count * 8);
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            if read_at(f, &mut chunk[..n], at).ok() != Some(n) {
                return Err(past);
            }
            free.extend(
                chunk[..n]
                    .chunks_exact(8)
                    .filter_map(|id| id.try_into().ok().map(u64::from_ne_bytes))
                    .filter(|id| (in_file..=last).contains(id)),
            );
            at += n as u64;
            left -= n as u64;
        }
        Ok(())
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use std::fs::OpenOptions;

    use heed::types::Bytes;
    use heed::{CommitOrAbort, Database, EnvOpenOptions};
    use stash_engine_api::{Digest, Engine};

    use super::*;
    use crate::{LmdbEngine, LmdbOptions};

    fn meta(file: &Path) -> layout::TestMeta {
        let f = File::open(file).unwrap();
        layout::newest_meta_for_tests(&f, file, f.metadata().unwrap().len())
    }

    /// The file's length and the bytes its newest meta page says its pages take.
    fn length_and_claim(file: &Path) -> (u64, u64) {
        let meta = meta(file);
        (std::fs::metadata(file).unwrap().len(), (meta.last_page + 1) * meta.page_size)
    }

    /// Where the root page of the main database starts in the file.
    fn main_root_offset(file: &Path) -> u64 {
        let meta = meta(file);
        meta.main_root * meta.page_size
    }

    fn truncate(file: &Path, len: u64) {
        OpenOptions::new().write(true).open(file).unwrap().set_len(len).unwrap();
    }

    fn digest(i: u32) -> Digest {
        let mut d = [0u8; 16];
        d[..4].copy_from_slice(&i.to_be_bytes());
        Digest(d)
    }

    /// A new environment holding the unnamed database, through heed directly
    /// (as another program would write the file).
    fn raw_env(dir: &Path) -> (heed::Env, Database<'static, Bytes, Bytes>) {
        // SAFETY: each test opens its environment once and changes it only through LMDB.
        let env = unsafe { EnvOpenOptions::new().map_size(1 << 30).open(dir).unwrap() };
        let wtxn = env.write_txn().unwrap();
        let db = env
            .create_databases_and_commit(wtxn, |dbs, wtxn| {
                dbs.create_database::<Bytes, Bytes>(wtxn, None).map(CommitOrAbort::<_, ()>::Commit)
            })
            .unwrap()
            .unwrap_commit();
        (env, db)
    }

    /// LMDB leaves the pages a transaction took at the end of the file and
    /// freed again before it committed unwritten, and lists them as free: such
    /// a file is sound and must open; one page less is a truncated file.
    #[test]
    fn a_file_ending_in_free_unwritten_pages_opens() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data.mdb");
        let (env, db) = raw_env(dir.path());
        let commit = |f: &dyn Fn(&mut heed::RwTxn<'_>)| {
            let mut wtxn = env.write_txn().unwrap();
            f(&mut wtxn);
            wtxn.commit().unwrap();
        };
        commit(&|w| {
            db.put(w, &digest(1).0, b"kept").unwrap();
            db.put(w, b"big", &[7; 40 << 10]).unwrap();
        });
        commit(&|w| assert!(db.delete(w, b"big").unwrap()));
        // Until no snapshot needs them, the freed pages are not reused.
        for i in 0..3u8 {
            commit(&|w| db.put(w, &[b'c', i], b"small").unwrap());
        }
        // Reuses free pages, then takes a run at the end of the file for a big
        // value and frees it again: LMDB never writes those pages.
        commit(&|w| {
            db.put(w, b"small", b"small").unwrap();
            db.put(w, b"huge", &[9; 400 << 10]).unwrap();
            assert!(db.delete(w, b"huge").unwrap());
        });
        env.prepare_for_closing().wait();
        let (len, claim) = length_and_claim(&file);
        assert!(len < claim, "the scenario no longer leaves unwritten pages ({len} >= {claim})");
        data_file_size(&file).unwrap();
        let engine = LmdbEngine::open(dir.path(), LmdbOptions::new()).unwrap();
        assert_eq!(engine.len().unwrap(), 5);
        drop(engine);

        // Cut before the root page of the data: a page in use is gone.
        let root = main_root_offset(&file);
        assert!(root >= 2 * 4096 && root < len);
        truncate(&file, root);
        let err = data_file_size(&file).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert_eq!(err.context_value("file"), Some(file.to_str().unwrap()), "{err}");
    }

    /// Random transactions of puts (some on overflow pages) and deletes, some
    /// of keys put in the same transaction: after every commit the file passes
    /// the check, including the states where it ends before its last page,
    /// and fails it once cut.
    #[test]
    fn every_state_of_a_random_workload_passes_and_cuts_fail() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data.mdb");
        let (env, db) = raw_env(dir.path());
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut short = 0;
        for state in 0..100 {
            let mut wtxn = env.write_txn().unwrap();
            let mut big = Vec::new();
            for _ in 0..rnd() % 20 + 1 {
                let key = ((rnd() % 300) as u32).to_be_bytes();
                match rnd() % 4 {
                    0 => {
                        db.put(&mut wtxn, &key, &vec![1; (rnd() % 100_000) as usize]).unwrap();
                        big.push(key);
                    }
                    1 => db.put(&mut wtxn, &key, &vec![2; (rnd() % 300) as usize]).unwrap(),
                    2 => {
                        if let Some(key) = big.pop() {
                            db.delete(&mut wtxn, &key).unwrap();
                        }
                    }
                    _ => {
                        db.delete(&mut wtxn, &key).unwrap();
                    }
                }
            }
            wtxn.commit().unwrap();
            let (len, claim) = length_and_claim(&file);
            short += usize::from(len < claim);
            data_file_size(&file).unwrap_or_else(|e| panic!("state {state} ({len} of {claim} bytes): {e}"));
        }
        assert!(short > 0, "no state ended before its last page: the walk of the free pages went untested");
        env.prepare_for_closing().wait();
        let (len, _) = length_and_claim(&file);
        for cut in [len / 2, 3 * 4096 + 100, 2 * 4096 + 1] {
            truncate(&file, cut);
            let err = data_file_size(&file).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Corrupt, "cut to {cut}: {err}");
            assert_eq!(err.context_value("file"), Some(file.to_str().unwrap()), "{err}");
        }
        // Inside the second meta page; an empty file is a new environment.
        truncate(&file, 4096 + 10);
        assert_eq!(data_file_size(&file).unwrap_err().kind(), ErrorKind::Corrupt);
        truncate(&file, 0);
        data_file_size(&file).unwrap();
    }

    /// A free-page list long enough for branch pages and for records on
    /// overflow pages (a reader pins a snapshot, so the pages freed after it
    /// pile up) in a file that ends before its last page: the walk reads them all.
    #[test]
    fn a_long_free_page_list_is_walked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data.mdb");
        let (env, db) = raw_env(dir.path());
        let key = |i: u32| i.to_be_bytes();
        let commit = |f: &dyn Fn(&mut heed::RwTxn<'_>)| {
            let mut wtxn = env.write_txn().unwrap();
            f(&mut wtxn);
            wtxn.commit().unwrap();
        };
        commit(&|w| (0..8000).for_each(|i| db.put(w, &key(i), &[3; 900]).unwrap()));
        // Pages free for reuse later, once no snapshot needs them (more than
        // the transactions below consume).
        commit(&|w| (0..4000).for_each(|i| assert!(db.delete(w, &key(i)).unwrap())));
        for i in 0..3u8 {
            commit(&|w| db.put(w, &[b'c', i], b"small").unwrap());
        }
        let (release, pin) = std::sync::mpsc::channel::<()>();
        let (pinned, wait_pinned) = std::sync::mpsc::channel::<()>();
        let reader = {
            let env = env.clone();
            std::thread::spawn(move || {
                let rtxn = env.read_txn().unwrap();
                pinned.send(()).unwrap();
                pin.recv().ok();
                drop(rtxn);
            })
        };
        wait_pinned.recv().unwrap();
        // Many small frees, a record each, and one large free, a record longer
        // than a node: none reusable while the reader lives.
        for t in 0..150 {
            commit(&|w| (0..4).for_each(|i| assert!(db.delete(w, &key(4000 + t * 4 + i)).unwrap())));
        }
        commit(&|w| (5000..8000).for_each(|i| assert!(db.delete(w, &key(i)).unwrap())));
        // Takes the reusable pages, then a run at the end of the file for a big
        // value, freed again before the commit: never written.
        commit(&|w| {
            db.put(w, b"small", b"small").unwrap();
            db.put(w, b"huge", &vec![9; 2 << 20]).unwrap();
            assert!(db.delete(w, b"huge").unwrap());
        });
        let end = meta(&file);
        release.send(()).unwrap();
        reader.join().unwrap();
        env.prepare_for_closing().wait();
        let (len, claim) = length_and_claim(&file);
        assert!(len < claim, "the scenario no longer leaves unwritten pages ({len} >= {claim})");
        assert!(end.free_depth >= 2 && end.free_overflow_pages > 0, "{end:?}");
        data_file_size(&file).unwrap();
        truncate(&file, main_root_offset(&file));
        assert_eq!(data_file_size(&file).unwrap_err().kind(), ErrorKind::Corrupt);
    }
}
