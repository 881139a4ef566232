//! The settings an options factory reports read back into the same settings (no server needed).

use std::time::Duration;

use stash_core::{EngineFactory, EngineOptions};
use stash_engine_mongo::MongoOptions;

#[test]
fn reported_options_read_back_alike_and_unknown_names_are_refused() {
    let set = MongoOptions::new()
        .database("cache")
        .timeout(Duration::from_millis(2500))
        .reply_timeout(Duration::from_secs(90));
    let saved = set.options();
    assert_eq!(saved.get("database").map(String::as_str), Some("cache"));
    assert_eq!(saved.get("timeout_ms").map(String::as_str), Some("2500"));
    assert_eq!(saved.get("reply_timeout_ms").map(String::as_str), Some("90000"));
    let back = MongoOptions::new().with_options(&saved).unwrap();
    assert_eq!(format!("{back:?}"), format!("{set:?}"));
    assert!(MongoOptions::new().options().is_empty());
    let bad = EngineOptions::from([("timeout_ms".to_string(), "soon".to_string())]);
    assert!(MongoOptions::new().with_options(&bad).is_err());
}
