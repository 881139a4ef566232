//! The settings an options factory reports read back into the same settings (no server needed).

use std::time::Duration;

use stash_core::{EngineFactory, EngineOptions};
use stash_engine_redis::RedisOptions;

#[test]
fn reported_options_read_back_alike_and_unknown_names_are_refused() {
    let set =
        RedisOptions::new().cluster(true).connect_timeout(Duration::from_millis(1500)).max_connections(3);
    let saved = set.options();
    assert_eq!(saved.get("cluster").map(String::as_str), Some("true"));
    assert_eq!(saved.get("connect_timeout_ms").map(String::as_str), Some("1500"));
    assert!(!saved.contains_key("response_timeout_ms"), "defaults are not recorded: {saved:?}");
    let back = RedisOptions::new().with_options(&saved).unwrap();
    assert_eq!(format!("{back:?}"), format!("{set:?}"));
    assert!(RedisOptions::new().options().is_empty());
    let typo = EngineOptions::from([("max_conections".to_string(), "3".to_string())]);
    assert!(RedisOptions::new().with_options(&typo).is_err());
}
