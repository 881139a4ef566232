//! The engine: one namespace of one server or cluster.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::{Cmd, RedisResult, ScriptInvocation};
use stash_engine_api::clock::{is_expired, now_micros, unique_micros};
use stash_engine_api::engine::key_mismatch;
use stash_engine_api::{
    Capabilities, Digest, Engine, EntryMeta, Error, ErrorKind, HeldLock, LockAttempt, MetaIter, Put, Record,
    RecordIter, Result, Version, WriteOptions,
};

use crate::conn::{Pool, evalsha};
use crate::scripts;

#[cfg(feature = "async")]
mod asynchronous;

/// Writes per pipeline in `put_many`.
const WRITE_BATCH: usize = 1024;
/// Bytes (keys and values) per pipeline in `put_many`, whichever limit comes first.
const WRITE_BATCH_BYTES: usize = 16 << 20;
/// Entries per page of a scan that reads values.
const SCAN_PAGE_VALUES: usize = 128;
/// Entries per page of a scan of keys or metadata, and of `clear`.
const SCAN_PAGE: usize = 512;

/// The readable part of a namespace: at most this many characters.
const READABLE_MAX: usize = 48;

/// A random number for this process, so write ids of two processes never collide.
static PROCESS_NONCE: LazyLock<u64> = LazyLock::new(|| {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_i64(now_micros());
    h.finish()
});

/// The namespace of the stash whose logical name is `logical` (see
/// `StashConfig::logical_name` in `stash-core`), the same on every machine that configures
/// it alike: a readable tail of the logical name (the last two parts: the
/// dbname's last folder, or the explicit namespace, then
/// `<engine>.<serializer>.<compress>`; braces and other unusual characters
/// made `_`, at most 48 characters), `~`, and 16 hex digits of the BLAKE3
/// hash of the whole logical name. The root counts as configured, not as
/// resolved on this machine: a relative `root_dir` names the same namespace
/// under any home or working folder.
///
/// ```
/// use stash_core::StashConfig;
/// let mut config = StashConfig::default();
/// config.engine = "redis".into();
/// config.compress = stash_core::Compression::Raw;
/// let ns = stash_engine_redis::namespace(&config.logical_name());
/// assert!(ns.starts_with("main/redis.hashstash.raw~"), "{ns}");
/// let mut team = config;
/// team.namespace = Some("team-cache".into());
/// assert!(stash_engine_redis::namespace(&team.logical_name()).starts_with("team-cache/redis.hashstash.raw~"));
/// ```
pub fn namespace(logical: &str) -> String {
    let hash = blake3::hash(logical.as_bytes()).to_hex();
    let mut tail: Vec<&str> = logical.rsplit('/').filter(|p| !p.is_empty()).take(2).collect();
    tail.reverse();
    // No `{` or `}`: the namespace sits inside the keys' `{...}` hash tag.
    let readable: String = tail
        .join("/")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | '+') { c } else { '_' })
        .collect();
    let skip = readable.chars().count().saturating_sub(READABLE_MAX);
    let readable: String = readable.chars().skip(skip).collect();
    format!("{readable}~{}", &hash.as_str()[..16])
}

/// The key names of one namespace.
#[derive(Debug)]
struct Keys {
    /// `hs:{<namespace>}:` — everything of the stash starts with it.
    prefix: Vec<u8>,
    /// `<prefix>all`: a sorted set of every digest, all scored 0 (so it pages by lex order).
    all: Vec<u8>,
    /// `<prefix>exp`: a sorted set of the digests that expire, scored by expiry (µs).
    exp: Vec<u8>,
}

impl Keys {
    fn new(namespace: &str) -> Keys {
        let prefix = format!("hs:{{{namespace}}}:").into_bytes();
        let with = |s: &str| [prefix.as_slice(), s.as_bytes()].concat();
        Keys { all: with("all"), exp: with("exp"), prefix }
    }

    /// `<prefix>lock:<name in hex>`: a lock taken by [`Engine::try_lock`].
    fn lock(&self, name: &Digest) -> Vec<u8> {
        [self.prefix.as_slice(), b"lock:", name.to_string().as_bytes()].concat()
    }

    /// `<prefix>e:<16 digest bytes>`: the hash of one entry.
    fn entry(&self, digest: &[u8]) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.prefix.len() + 2 + digest.len());
        key.extend_from_slice(&self.prefix);
        key.extend_from_slice(b"e:");
        key.extend_from_slice(digest);
        key
    }
}

pub(crate) struct Shared {
    pool: Arc<Pool>,
    keys: Keys,
    namespace: String,
    trips: Arc<AtomicU64>,
    /// The stash's `max_value_bytes`: what stored sizes are checked against.
    max_value_bytes: u64,
}

impl Shared {
    fn run<T>(
        &self,
        what: &str,
        f: impl FnMut(&mut crate::conn::Session<'_>) -> RedisResult<T>,
    ) -> Result<T> {
        self.pool.run(&self.trips, what, f).map_err(|e| e.with_context("namespace", &self.namespace))
    }

    fn corrupt(&self, digest: &[u8], why: &str) -> Error {
        let e = damaged(why).with_context("url", &self.pool.shown).with_context("namespace", &self.namespace);
        match <[u8; 16]>::try_from(digest) {
            Ok(d) => e.with_context("digest", Digest(d)),
            Err(_) => e.with_context("member", String::from_utf8_lossy(digest)),
        }
    }

    /// The error of a damaged entry read at `digest`, with where it is.
    fn damage(&self, digest: &Digest, damage: Damage) -> Error {
        match damage {
            Damage::KeyMismatch => key_mismatch(digest),
            Damage::Corrupt(why) => self.corrupt(digest.as_bytes(), &why),
        }
    }
}

/// Why a stored entry cannot be read. The decoding below is pure (no server,
/// no clock); the engine turns this into its error with the server, the
/// namespace and the digest.
#[derive(Debug)]
pub(crate) enum Damage {
    /// The entry holds another key.
    KeyMismatch,
    /// The entry is not shaped as the scripts write it.
    Corrupt(String),
}

impl Damage {
    fn corrupt(why: &str) -> Damage {
        Damage::Corrupt(why.to_string())
    }
}

/// A `Corrupt` error for a damaged entry, before saying where it is.
pub(crate) fn damaged(why: &str) -> Error {
    Error::new(ErrorKind::Corrupt, format!("damaged Redis entry: {why}"))
}

/// One stash's namespace on a Redis server or cluster.
pub struct RedisEngine {
    shared: Arc<Shared>,
}

impl fmt::Debug for RedisEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisEngine")
            .field("url", &self.shared.pool.shown)
            .field("namespace", &self.shared.namespace)
            .finish()
    }
}

fn parse_i64(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

impl RedisEngine {
    pub(crate) fn new(
        pool: Arc<Pool>,
        namespace: String,
        trips: Arc<AtomicU64>,
        max_value_bytes: u64,
    ) -> RedisEngine {
        let keys = Keys::new(&namespace);
        RedisEngine { shared: Arc::new(Shared { pool, keys, namespace, trips, max_value_bytes }) }
    }

    /// The namespace: every Redis key of this stash starts with `hs:{<namespace>}:`.
    pub fn namespace(&self) -> &str {
        &self.shared.namespace
    }

    /// The server's URL (password hidden).
    pub fn url(&self) -> &str {
        &self.shared.pool.shown
    }

    /// Round trips to the server made by engines sharing this engine's counter.
    pub fn round_trips(&self) -> u64 {
        self.shared.trips.load(Ordering::Relaxed)
    }

    /// Checks that the server answers.
    pub(crate) fn ping(&self) -> Result<()> {
        self.shared.run("answer a PING", |s| s.query::<String>(&redis::cmd("PING"))).map(drop)
    }

    fn put_cmd(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions, now: i64) -> Cmd {
        let k = &self.shared.keys;
        let stamp = unique_micros();
        let mut cmd = evalsha(&scripts::PUT, &[&k.entry(digest.as_bytes()), &k.all, &k.exp]);
        cmd.arg(digest.as_bytes().as_slice())
            .arg(key)
            .arg(value)
            .arg(stamp)
            .arg(options.expires_at_micros.map(|x| x.to_string()).unwrap_or_default())
            .arg(if options.append { "1" } else { "0" })
            .arg(now)
            .arg(write_id(stamp));
        cmd
    }

    /// `HMGET entry k x <fields>`: the key check and expiry, then the fields.
    fn read_fields(
        &self,
        digest: &Digest,
        key: &[u8],
        fields: &[&str],
        what: &str,
    ) -> Result<Option<Vec<Vec<u8>>>> {
        let cmd = self.fields_cmd(digest, fields);
        let reply: Vec<Option<Vec<u8>>> = self.shared.run(what, |s| s.query(&cmd))?;
        self.visible(digest, key, reply, fields.len())
    }

    /// The command of [`read_fields`](RedisEngine::read_fields), sync or async.
    fn fields_cmd(&self, digest: &Digest, fields: &[&str]) -> Cmd {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.shared.keys.entry(digest.as_bytes())).arg("k").arg("x");
        for f in fields {
            cmd.arg(*f);
        }
        cmd
    }

    /// The `wanted` fields of a [`fields_cmd`](RedisEngine::fields_cmd) reply read for `key`.
    fn visible(
        &self,
        digest: &Digest,
        key: &[u8],
        reply: Vec<Option<Vec<u8>>>,
        wanted: usize,
    ) -> Result<Option<Vec<Vec<u8>>>> {
        visible_fields(reply, wanted, key, now_micros()).map_err(|d| self.shared.damage(digest, d))
    }

    /// The script call of `delete`, sync or async (its reply goes to [`deleted`]).
    fn delete_call(&self, digest: &Digest, key: &[u8]) -> ScriptInvocation<'static> {
        let k = &self.shared.keys;
        let mut call = scripts::DELETE.prepare_invoke();
        call.key(k.entry(digest.as_bytes()))
            .key(&k.all)
            .key(&k.exp)
            .arg(digest.as_bytes().as_slice())
            .arg(key)
            .arg(now_micros());
        call
    }

    /// The script call of `len`, sync or async (its reply goes to [`count`]).
    fn len_call(&self) -> ScriptInvocation<'static> {
        let k = &self.shared.keys;
        let mut call = scripts::LEN.prepare_invoke();
        call.key(&k.all).key(&k.exp).arg(now_micros());
        call
    }

    /// The commands of one pipeline of `put_many`, sync or async (their replies
    /// go to [`check_puts`]).
    fn put_cmds(&self, chunk: &[Put<'_>], options: WriteOptions) -> Vec<Cmd> {
        let now = now_micros();
        chunk.iter().map(|p| self.put_cmd(&p.digest, p.key, p.value, options, now)).collect()
    }
}

/// `items` cut into the pipelines of `put_many`: at most [`WRITE_BATCH`]
/// writes and [`WRITE_BATCH_BYTES`] each (an entry larger than that alone).
pub(crate) fn write_chunks<'i, 'p>(items: &'i [Put<'p>]) -> impl Iterator<Item = &'i [Put<'p>]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut bytes = 0;
        let n = rest
            .iter()
            .take(WRITE_BATCH)
            .take_while(|p| {
                bytes += p.key.len() + p.value.len();
                bytes <= WRITE_BATCH_BYTES
            })
            .count()
            .max(1);
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
}

/// The reply of the `DELETE` script: whether a live entry was removed.
fn deleted(code: i64, digest: &Digest) -> Result<bool> {
    if code < 0 {
        return Err(key_mismatch(digest));
    }
    Ok(code > 0)
}

/// The reply of the `LEN` script as a count.
fn count(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// The replies of a pipeline of `put_cmds(chunk)`.
fn check_puts(chunk: &[Put<'_>], codes: Vec<i64>) -> Result<()> {
    chunk.iter().zip(codes).try_for_each(|(p, code)| check_put(code, &p.digest))
}

/// The reply of `HMGET entry k x <wanted fields>` read for `key`: the wanted
/// fields, or `None` when there is no entry or it has expired at `now`.
pub(crate) fn visible_fields(
    mut reply: Vec<Option<Vec<u8>>>,
    wanted: usize,
    key: &[u8],
    now: i64,
) -> std::result::Result<Option<Vec<Vec<u8>>>, Damage> {
    if reply.len() != wanted + 2 {
        return Err(Damage::corrupt("short HMGET reply"));
    }
    let Some(stored) = reply[0].take() else { return Ok(None) };
    if stored != key {
        return Err(Damage::KeyMismatch);
    }
    let expires = match &reply[1] {
        None => None,
        Some(x) => Some(parse_i64(x).ok_or_else(|| Damage::corrupt("bad expiry"))?),
    };
    if is_expired(expires, now) {
        return Ok(None);
    }
    reply
        .drain(2..)
        .map(|v| v.ok_or_else(|| Damage::corrupt("a field is missing")))
        .collect::<Result<_, _>>()
        .map(Some)
}

/// The id of one write: this process and its unique stamp (a retry after a
/// lost reply finds it stored and knows the write was applied).
fn write_id(stamp: i64) -> String {
    format!("{:x}.{:x}.{stamp}", std::process::id(), *PROCESS_NONCE)
}

fn check_put(code: i64, digest: &Digest) -> Result<()> {
    if code < 0 { Err(key_mismatch(digest)) } else { Ok(()) }
}

impl Engine for RedisEngine {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE.with_persistence().with_multi_process().with_cheap_len()
    }

    fn get(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.read_fields(digest, key, &["v"], "read an entry")?.and_then(|mut f| f.pop()))
    }

    fn contains(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        Ok(self.read_fields(digest, key, &[], "read an entry")?.is_some())
    }

    fn put(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
        let cmd = self.put_cmd(digest, key, value, options, now_micros());
        // EVALSHA through a one-command pipeline: a missing script is loaded by `Pool::run`.
        let code: i64 = self.shared.run("write an entry", |s| {
            let mut pipe = s.pipe();
            pipe.add(cmd.clone());
            s.run_pipe::<(i64,)>(&pipe).map(|(c,)| c)
        })?;
        check_put(code, digest)
    }

    /// One script in the stash's slot: writes a fresh entry (with the expiry
    /// index kept as `put` keeps it) unless a live entry holds the key; an
    /// expired one is replaced. A retry after a lost reply recognises its own
    /// write id, so it still reports `true`.
    fn put_if_absent(
        &self,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<bool> {
        let k = &self.shared.keys;
        let entry = k.entry(digest.as_bytes());
        let stamp = unique_micros();
        let mut call = scripts::PUT_IF_ABSENT.prepare_invoke();
        call.key(&entry)
            .key(&k.all)
            .key(&k.exp)
            .arg(digest.as_bytes().as_slice())
            .arg(key)
            .arg(value)
            .arg(stamp)
            .arg(options.expires_at_micros.map(|x| x.to_string()).unwrap_or_default())
            .arg(now_micros())
            .arg(write_id(stamp));
        let code: i64 = self.shared.run("write an absent entry", |s| s.invoke(&call))?;
        check_put(code, digest)?;
        Ok(code > 0)
    }

    fn put_many(&self, items: &[Put<'_>], options: WriteOptions) -> Result<()> {
        for chunk in write_chunks(items) {
            let cmds = self.put_cmds(chunk, options);
            let codes: Vec<i64> = self.shared.run("write a batch of entries", |s| {
                let mut pipe = s.pipe();
                for cmd in &cmds {
                    pipe.add(cmd.clone());
                }
                s.run_pipe(&pipe)
            })?;
            check_puts(chunk, codes)?;
        }
        Ok(())
    }

    fn delete(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        let call = self.delete_call(digest, key);
        deleted(self.shared.run("delete an entry", |s| s.invoke(&call))?, digest)
    }

    /// One script: removes the entry unless its stored newest write time is
    /// later than `seen_written_at_micros` (expired entries included).
    fn delete_unless_rewritten(
        &self,
        digest: &Digest,
        key: &[u8],
        seen_written_at_micros: i64,
    ) -> Result<bool> {
        let k = &self.shared.keys;
        let entry = k.entry(digest.as_bytes());
        let mut call = scripts::DELETE_UNLESS_REWRITTEN.prepare_invoke();
        call.key(&entry)
            .key(&k.all)
            .key(&k.exp)
            .arg(digest.as_bytes().as_slice())
            .arg(key)
            .arg(seen_written_at_micros);
        deleted(self.shared.run("delete an entry", |s| s.invoke(&call))?, digest)
    }

    /// `SET <prefix>lock:<name> <token> NX PX <lease>` (through a script that
    /// also recognises its own token after a retry); the guard deletes the
    /// key only while it still holds its token.
    fn try_lock(&self, name: &Digest, lease: Duration) -> Result<LockAttempt> {
        let key = self.shared.keys.lock(name);
        let token = lock_token();
        // At least 1 ms; at most a century (Redis refuses expiry times past its clock's range).
        let millis = lease.as_millis().clamp(1, 100 * 365 * 24 * 3600 * 1000) as u64;
        let mut call = scripts::LOCK.prepare_invoke();
        call.key(&key).arg(&token).arg(millis);
        let taken: i64 =
            self.shared.run("take a lock", |s| s.invoke(&call)).map_err(|e| e.with_context("lock", name))?;
        if taken != 1 {
            return Ok(LockAttempt::Busy);
        }
        Ok(LockAttempt::Acquired(Box::new(RedisLock {
            shared: self.shared.clone(),
            key,
            name: *name,
            token,
        })))
    }

    fn len(&self) -> Result<usize> {
        let call = self.len_call();
        Ok(count(self.shared.run("count entries", |s| s.invoke(&call))?))
    }

    fn clear(&self) -> Result<()> {
        let k = &self.shared.keys;
        loop {
            let removed: i64 = self.shared.run("clear the stash", |s| {
                let digests: Vec<Vec<u8>> =
                    s.query(redis::cmd("ZRANGE").arg(&k.all).arg(0).arg(SCAN_PAGE as i64 - 1))?;
                let mut call = scripts::CLEAR_PAGE.prepare_invoke();
                call.key(&k.all).key(&k.exp);
                for d in &digests {
                    call.key(k.entry(d));
                }
                for d in &digests {
                    call.arg(d.as_slice());
                }
                s.invoke(&call)
            })?;
            if removed < SCAN_PAGE as i64 {
                return Ok(());
            }
        }
    }

    fn scan(&self) -> Result<RecordIter> {
        Ok(Box::new(Scan::new(self.shared.clone(), Mode::Records).filter_map(|r| match r {
            Ok(Item::Record(rec)) => Some(Ok(rec)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })))
    }

    fn scan_keys(&self) -> Result<RecordIter> {
        Ok(Box::new(Scan::new(self.shared.clone(), Mode::Keys).filter_map(|r| match r {
            Ok(Item::Record(rec)) => Some(Ok(rec)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })))
    }

    fn scan_meta(&self) -> Result<MetaIter> {
        Ok(Box::new(Scan::new(self.shared.clone(), Mode::Meta).filter_map(|r| match r {
            Ok(Item::Meta(meta)) => Some(Ok(meta)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })))
    }

    /// With the feature `async`, the engine itself: its reads and writes are
    /// awaited on a multiplexed connection of the caller's tokio runtime.
    #[cfg(feature = "async")]
    fn as_async(&self) -> Option<&dyn stash_engine_api::AsyncEngine> {
        Some(self)
    }

    fn versions(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<Version>>> {
        let entry = self.shared.keys.entry(digest.as_bytes());
        let fields: Vec<(Vec<u8>, Vec<u8>)> = self
            .shared
            .run("read the versions of an entry", |s| s.query(redis::cmd("HGETALL").arg(&entry)))?;
        decode_versions(&fields, key, now_micros()).map_err(|d| self.shared.damage(digest, d))
    }
}

/// The reply of `HGETALL entry` read for `key`: every version, oldest first,
/// or `None` when there is no entry or it has expired at `now`.
pub(crate) fn decode_versions(
    fields: &[(Vec<u8>, Vec<u8>)],
    key: &[u8],
    now: i64,
) -> std::result::Result<Option<Vec<Version>>, Damage> {
    if fields.is_empty() {
        return Ok(None);
    }
    let corrupt = Damage::corrupt;
    let fields: HashMap<&[u8], &[u8]> = fields.iter().map(|(f, v)| (f.as_slice(), v.as_slice())).collect();
    let field = |name: &[u8]| fields.get(name).copied();
    let number = |name: &[u8]| field(name).and_then(parse_i64);
    let stored = field(b"k").ok_or_else(|| corrupt("no key"))?;
    if stored != key {
        return Err(Damage::KeyMismatch);
    }
    // A present expiry that is not a number is damage, as for every other read.
    let expires = match field(b"x") {
        None => None,
        Some(x) => Some(parse_i64(x).ok_or_else(|| corrupt("bad expiry"))?),
    };
    if is_expired(expires, now) {
        return Ok(None);
    }
    let older = number(b"n").ok_or_else(|| corrupt("no version count"))?;
    // Checked against what the hash holds before it sizes anything.
    let older = older_versions(older, fields.len() as u64).map_err(Damage::Corrupt)?;
    let mut versions = Vec::with_capacity(older + 1);
    for i in 1..=older {
        let value = field(format!("o{i}").as_bytes()).ok_or_else(|| corrupt("a version is missing"))?;
        let at = number(format!("s{i}").as_bytes()).ok_or_else(|| corrupt("a version time is missing"))?;
        versions.push(Version { number: i as u64, written_at_micros: at, value: value.to_vec() });
    }
    let value = field(b"v").ok_or_else(|| corrupt("no value"))?;
    let at = number(b"t").ok_or_else(|| corrupt("no write time"))?;
    versions.push(Version { number: older as u64 + 1, written_at_micros: at, value: value.to_vec() });
    Ok(Some(versions))
}

/// The fields an entry's hash has whatever its history: `k v t n` (and
/// `b w`, which the reads here do not need).
const FIXED_FIELDS: u64 = 4;

/// The stored count of older versions `n`, checked against the number of
/// fields the entry's hash actually has (at least four of its own, and two
/// for each older version, `o<i>` and `s<i>`): a count the hash cannot hold
/// is a damaged entry, never the size of an allocation.
fn older_versions(n: i64, hash_fields: u64) -> std::result::Result<usize, String> {
    match u64::try_from(n) {
        Ok(n)
            if n.checked_mul(2)
                .and_then(|f| f.checked_add(FIXED_FIELDS))
                .is_some_and(|f| f <= hash_fields) =>
        {
            usize::try_from(n).map_err(|_| format!("version count {n} does not fit this machine"))
        }
        _ => Err(format!("version count {n} does not match the {hash_fields} fields stored")),
    }
}

/// The stored value bytes `b` of an entry with `versions` versions, checked:
/// never negative, and never more than `versions` values of at most
/// `max_value_bytes` each.
fn stored_bytes(b: i64, versions: u64, max_value_bytes: u64) -> std::result::Result<u64, String> {
    match u64::try_from(b) {
        Ok(b) if versions.checked_mul(max_value_bytes).is_none_or(|most| b <= most) => Ok(b),
        _ => Err(format!("value size {b} is impossible for {versions} versions")),
    }
}

/// A token no other lock holder has: this process's random nonce and a count.
fn lock_token() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:x}.{:x}.{:x}.{}",
        std::process::id(),
        *PROCESS_NONCE,
        COUNT.fetch_add(1, Ordering::Relaxed),
        now_micros()
    )
}

/// A lock held on the server; released (only if still ours) when dropped.
struct RedisLock {
    shared: Arc<Shared>,
    key: Vec<u8>,
    name: Digest,
    token: String,
}

impl fmt::Debug for RedisLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLock")
            .field("namespace", &self.shared.namespace)
            .field("name", &self.name)
            .finish()
    }
}

impl HeldLock for RedisLock {}

impl Drop for RedisLock {
    fn drop(&mut self) {
        let mut call = scripts::UNLOCK.prepare_invoke();
        call.key(&self.key).arg(&self.token);
        // A release that fails leaves the lock to expire with its lease.
        let _ = self.shared.run("release a lock", |s| s.invoke::<i64>(&call));
    }
}

/// What a scan reads of each entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Keys and newest values (`scan`).
    Records,
    /// Keys only (`scan_keys`).
    Keys,
    /// Keys and metadata (`scan_meta`).
    Meta,
}

impl Mode {
    /// The fields `HMGET` reads, in the order [`scan_item`] expects them.
    pub(crate) fn fields(self) -> &'static [&'static str] {
        match self {
            Mode::Records => &["k", "x", "v"],
            Mode::Keys => &["k", "x"],
            Mode::Meta => &["k", "x", "t", "n", "b"],
        }
    }

    fn page(self) -> usize {
        if self == Mode::Records { SCAN_PAGE_VALUES } else { SCAN_PAGE }
    }
}

/// One entry as a scan yields it.
pub(crate) enum Item {
    /// From a scan of records or keys.
    Record(Record),
    /// From a scan of metadata.
    Meta(EntryMeta),
}

/// Pages through the `all` set by digest order (`ZRANGEBYLEX` after the last
/// digest seen), reading each page's entries in one pipeline: two round trips
/// a page, no duplicates, and nothing held open between pages, so the caller
/// may write while iterating.
struct Scan {
    shared: Arc<Shared>,
    mode: Mode,
    after: Option<Vec<u8>>,
    buffer: VecDeque<Result<Item>>,
    done: bool,
    now: i64,
}

impl Scan {
    fn new(shared: Arc<Shared>, mode: Mode) -> Scan {
        Scan { shared, mode, after: None, buffer: VecDeque::new(), done: false, now: now_micros() }
    }

    fn fill(&mut self) -> Result<()> {
        let keys = &self.shared.keys;
        let start = match &self.after {
            None => b"-".to_vec(),
            Some(d) => [b"(".as_slice(), d].concat(),
        };
        let mode = self.mode;
        let (digests, rows) = self.shared.run("list entries", |s| {
            let digests: Vec<Vec<u8>> = s.query(
                redis::cmd("ZRANGEBYLEX")
                    .arg(&keys.all)
                    .arg(&start)
                    .arg("+")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(mode.page()),
            )?;
            if digests.is_empty() {
                return Ok((digests, Vec::new()));
            }
            let mut pipe = s.pipe();
            for d in &digests {
                let mut cmd = redis::cmd("HMGET");
                cmd.arg(keys.entry(d));
                for f in mode.fields() {
                    cmd.arg(*f);
                }
                pipe.add(cmd);
                if mode == Mode::Meta {
                    // How many fields the hash has: what the stored counts are checked against.
                    pipe.add(redis::cmd("HLEN").arg(keys.entry(d)).clone());
                }
            }
            let replies: Vec<redis::Value> = s.run_pipe(&pipe)?;
            let mut rows = Vec::with_capacity(digests.len());
            let mut replies = replies.into_iter();
            for _ in &digests {
                let row: Vec<Option<Vec<u8>>> = match replies.next() {
                    Some(v) => redis::from_redis_value(v)?,
                    None => Vec::new(),
                };
                let hash_fields: Option<u64> = match mode {
                    Mode::Meta => replies.next().map(redis::from_redis_value).transpose()?,
                    _ => None,
                };
                rows.push((row, hash_fields));
            }
            Ok((digests, rows))
        })?;
        if digests.len() < mode.page() {
            self.done = true;
        }
        self.after = digests.last().cloned();
        for (d, row) in digests.into_iter().zip(rows) {
            if let Some(item) = self.item(&d, row).transpose() {
                self.buffer.push_back(item);
            }
        }
        Ok(())
    }

    /// One entry of a page (see [`scan_item`]).
    fn item(&self, d: &[u8], row: (Vec<Option<Vec<u8>>>, Option<u64>)) -> Result<Option<Item>> {
        scan_item(self.mode, d, row, self.now, self.shared.max_value_bytes)
            .map_err(|why| self.shared.corrupt(d, &why))
    }
}

/// One entry of a scan page: the index member `d` and the reply of `HMGET
/// entry <mode's fields>` (with `HLEN entry` for metadata). `None` when it
/// is gone (deleted since the page was listed) or, except for metadata,
/// expired at `now`. The error is why the entry is damaged.
pub(crate) fn scan_item(
    mode: Mode,
    d: &[u8],
    (mut row, hash_fields): (Vec<Option<Vec<u8>>>, Option<u64>),
    now: i64,
    max_value_bytes: u64,
) -> std::result::Result<Option<Item>, String> {
    let corrupt = |why: &str| why.to_string();
    if row.len() != mode.fields().len() {
        return Err(corrupt("short HMGET reply"));
    }
    let Some(key) = row[0].take() else { return Ok(None) };
    let digest = Digest(<[u8; 16]>::try_from(d).map_err(|_| corrupt("an index member is not a digest"))?);
    let number = |v: &Option<Vec<u8>>| v.as_deref().and_then(parse_i64);
    let expires = match &row[1] {
        None => None,
        some => Some(number(some).ok_or_else(|| corrupt("bad expiry"))?),
    };
    let expired = is_expired(expires, now);
    Ok(match mode {
        Mode::Records if expired => None,
        Mode::Records => {
            let value = row[2].take().ok_or_else(|| corrupt("no value"))?;
            Some(Item::Record(Record { digest, key, value }))
        }
        Mode::Keys if expired => None,
        Mode::Keys => Some(Item::Record(Record { digest, key, value: Vec::new() })),
        Mode::Meta => {
            let written = number(&row[2]).ok_or_else(|| corrupt("no write time"))?;
            let older = number(&row[3]).ok_or_else(|| corrupt("no version count"))?;
            let bytes = number(&row[4]).ok_or_else(|| corrupt("no size"))?;
            let older = older_versions(older, hash_fields.unwrap_or(0))?;
            let versions = older as u64 + 1;
            let bytes = stored_bytes(bytes, versions, max_value_bytes)?;
            Some(Item::Meta(EntryMeta {
                digest,
                key,
                written_at_micros: written,
                expires_at_micros: expires,
                versions,
                value_bytes: bytes,
            }))
        }
    })
}

impl Iterator for Scan {
    type Item = Result<Item>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.buffer.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.fill() {
                self.done = true;
                return Some(Err(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A damaged expiry `x` is a damaged entry for every read: `versions` once
    /// took it for "never expires" and returned the versions that `get`
    /// refused (found by the `redis_record` fuzz target).
    #[test]
    fn a_bad_expiry_is_corrupt_for_every_read() {
        let field = |f: &str, v: &str| (f.as_bytes().to_vec(), v.as_bytes().to_vec());
        let mut hash =
            vec![field("k", "key"), field("v", "value"), field("t", "1"), field("n", "0"), field("b", "5")];
        assert_eq!(decode_versions(&hash, b"key", 0).map(|v| v.map(|v| v.len())).ok(), Some(Some(1)));
        hash.push(field("x", "2000000000000d\""));
        assert!(matches!(decode_versions(&hash, b"key", 0), Err(Damage::Corrupt(_))));
        let reply = vec![Some(b"key".to_vec()), Some(b"2000000000000d\"".to_vec()), Some(b"value".to_vec())];
        assert!(matches!(visible_fields(reply, 1, b"key", 0), Err(Damage::Corrupt(_))));
    }
}
