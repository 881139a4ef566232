//! Logs through `tracing` (feature `tracing`): a subscriber sees hits, misses,
//! writes, evictions, retries-free opens and prunes with the documented fields,
//! and never a key's or a value's contents.
#![cfg(all(feature = "tracing", feature = "testkit"))]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use stash_core::testkit::logs::capture;
use stash_core::{Prune, SetOptions, Stash, StashConfig};

/// The tests of this file run one at a time: `tracing` caches whether a call site is
/// wanted, and a site first reached on another test's thread (with no subscriber) can
/// be missed by the thread-local subscriber `capture` installs.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn memory_stash(dir: &std::path::Path, adjust: impl FnOnce(&mut StashConfig)) -> Stash {
    let mut config = StashConfig::default();
    config.root_dir = dir.into();
    config.engine = "memory".into();
    adjust(&mut config);
    Stash::open(config, Arc::new(stash_engine_memory::Memory)).unwrap()
}

#[test]
fn a_subscriber_sees_hits_misses_writes_and_evictions_without_contents() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let secret_key = "secret-key-text";
    let secret_value = "secret-value-text";
    let ((stash, digest), seen) = capture(|| {
        let s = memory_stash(dir.path(), |c| c.max_entries = Some(3));
        s.set(secret_key, secret_value).unwrap();
        assert_eq!(s.get::<_, String>(secret_key).unwrap().as_deref(), Some(secret_value));
        assert_eq!(s.get::<_, String>("absent").unwrap(), None);
        for i in 0..10 {
            s.set(&format!("filler-{i}"), secret_value).unwrap();
        }
        s.set_with("short", secret_value, SetOptions::new().ttl(Duration::from_millis(1))).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        s.prune(Prune::expired()).unwrap();
        let digest = s.encode_key(secret_key).unwrap().digest.to_string();
        (s.to_string(), digest)
    });
    let find = |message: &str| seen.iter().filter(|e| e.message() == message).cloned().collect::<Vec<_>>();

    for event in &seen {
        assert_eq!(event.target, "hashstash");
        let text = format!("{:?}", event.fields);
        assert!(!text.contains("secret"), "contents in a log event: {event:?}");
    }
    let hit = find("hit");
    assert_eq!(hit.len(), 1, "{seen:#?}");
    assert_eq!(hit[0].level, tracing::Level::TRACE);
    assert_eq!(hit[0].fields["digest"], digest);
    assert_eq!(hit[0].fields["engine"], "memory");
    assert_eq!(hit[0].fields["stash"], stash);
    assert_eq!(hit[0].fields["op"], "get");

    let miss = find("miss");
    assert_eq!(miss.len(), 1, "{seen:#?}");
    assert_ne!(miss[0].fields["digest"], digest);

    let writes = find("write");
    assert_eq!(writes.len(), 12, "{seen:#?}");
    assert_eq!(writes[0].fields["digest"], digest);
    assert_eq!(writes[0].fields["entries"], "1");

    let evicted = find("evicted");
    assert!(!evicted.is_empty(), "{seen:#?}");
    for e in &evicted {
        assert_eq!(e.level, tracing::Level::DEBUG);
        assert_eq!(e.fields["reason"], "bound");
        assert_eq!(e.fields["stash"], stash);
        assert_eq!(e.fields["digest"].len(), 32, "{e:?}");
        assert!(e.fields["value_bytes"].parse::<u64>().unwrap() > 0);
    }
    // The first key written is the first evicted.
    assert!(evicted.iter().any(|e| e.fields["digest"] == digest), "{evicted:#?}");

    let expired = find("expired removed");
    assert_eq!(expired.len(), 1, "{seen:#?}");
    assert_eq!(expired[0].fields["reason"], "prune");
    assert_eq!(find("opened").len(), 1);
}

#[test]
fn a_slow_engine_call_is_a_warning_with_its_operation() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let ((), seen) = capture(|| {
        let s = memory_stash(dir.path(), |_| {});
        stash_core::observe::set_slow_threshold(Duration::ZERO);
        s.set("k", "v").unwrap();
        stash_core::observe::set_slow_threshold(Duration::from_millis(100));
    });
    let slow: Vec<_> = seen.iter().filter(|e| e.message() == "slow operation").collect();
    assert!(!slow.is_empty(), "{seen:#?}");
    assert_eq!(slow[0].level, tracing::Level::WARN);
    assert_eq!(slow[0].fields["op"], "put");
    assert_eq!(slow[0].fields["threshold_us"], "0");
}

#[test]
fn stats_read_as_metrics() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let s = memory_stash(dir.path(), |_| {});
    s.set("a", &1).unwrap();
    s.get::<_, i32>("a").unwrap();
    let metrics: BTreeMap<_, _> = s.stats().unwrap().metrics().collect();
    assert_eq!(metrics["hashstash_entries"], 1);
    assert_eq!(metrics["hashstash_hits_total"], 1);
    assert_eq!(metrics["hashstash_writes_total"], 1);
}
