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

/// The TLS file options read back alike, are shown as paths, go together
/// (certificate and key), need a `rediss://` URL, and a file that is missing
/// or holds no certificate is a `Config` error that names it without showing
/// what it holds; `#insecure` (no certificate checks) is refused. No server needed.
#[test]
fn tls_options_are_checked_before_connecting() {
    use std::sync::Arc;

    use stash_core::{ErrorKind, Stash, StashConfig};

    let set = RedisOptions::new().tls_ca_file("/etc/ca.pem").tls_client_cert("/etc/c.pem", "/etc/c.key");
    let saved = set.options();
    assert_eq!(saved.get("tls_ca_file").map(String::as_str), Some("/etc/ca.pem"));
    assert_eq!(saved.get("tls_cert_file").map(String::as_str), Some("/etc/c.pem"));
    assert_eq!(saved.get("tls_key_file").map(String::as_str), Some("/etc/c.key"));
    let back = RedisOptions::new().with_options(&saved).unwrap();
    assert_eq!(format!("{back:?}"), format!("{set:?}"));
    assert!(format!("{set:?}").contains("/etc/c.key"), "{set:?}");

    let dir = tempfile::tempdir().unwrap();
    let open = |url: &str, options: &[(&str, String)]| {
        let mut config = StashConfig::default();
        config.engine = "redis".into();
        config.root_dir = dir.path().to_path_buf();
        config.url = Some(url.into());
        for (name, value) in options {
            config.engine_options.insert((*name).to_string(), value.clone());
        }
        Stash::open(config, Arc::new(RedisOptions::new().connect_timeout(Duration::from_secs(1))))
    };
    // Port 1: nothing listens there; every case below fails before connecting.
    let tls_url = "rediss://user:s3cr3t@127.0.0.1:1/0";
    let expect_config = |err: stash_core::Error, says: &str| {
        let shown = format!("{err}\n{err:?}");
        assert_eq!(err.kind(), ErrorKind::Config, "{shown}");
        assert!(shown.contains(says), "{says}: {shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
    };
    let only_cert = [("tls_cert_file", "/etc/c.pem".to_string())];
    expect_config(open(tls_url, &only_cert).unwrap_err(), "set both or neither");
    let only_key = [("tls_key_file", "/etc/c.key".to_string())];
    expect_config(open(tls_url, &only_key).unwrap_err(), "set both or neither");
    let ca = [("tls_ca_file", "/etc/ca.pem".to_string())];
    expect_config(open("redis://user:s3cr3t@127.0.0.1:1/0", &ca).unwrap_err(), "need a rediss:// URL");

    let missing = dir.path().join("nowhere.pem");
    let err = open(tls_url, &[("tls_ca_file", missing.display().to_string())]).unwrap_err();
    assert_eq!(err.context_value("file"), Some(missing.display().to_string().as_str()), "{err}");
    expect_config(err, "cannot read the Redis TLS CA certificate file");

    // A private key given as the CA (a slip of the kind that happens): refused, its contents unseen.
    let key_body = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgVERZU0VDUkVUS0VZQk9EWQ";
    let wrong = dir.path().join("key-as-ca.pem");
    std::fs::write(&wrong, format!("-----BEGIN PRIVATE KEY-----\n{key_body}\n-----END PRIVATE KEY-----\n"))
        .unwrap();
    let err = open(tls_url, &[("tls_ca_file", wrong.display().to_string())]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("holds no PEM certificate"), "{err}");
    assert_eq!(err.context_value("file"), Some(wrong.display().to_string().as_str()), "{err}");
    let mut shown = format!("{err}\n{err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(e) = source {
        shown.push_str(&format!("\n{e}\n{e:?}"));
        source = e.source();
    }
    assert!(!shown.contains(key_body), "{shown}");
    assert!(!shown.contains("VERZU0VDUkVU"), "{shown}");

    let as_client =
        [("tls_cert_file", wrong.display().to_string()), ("tls_key_file", wrong.display().to_string())];
    let err = open(tls_url, &as_client).unwrap_err();
    assert!(!format!("{err}\n{err:?}").contains(key_body), "{err:?}");
    expect_config(err, "client certificate file holds no PEM certificate");

    // No switch to skip certificate checks.
    let err = open("rediss://127.0.0.1:1/0#insecure", &[]).unwrap_err();
    assert!(format!("{err}\n{err:?}").contains("insecure"), "{err:?}");
}
