//! The context a stash opens its engine with: the layout an engine offers, the
//! stash's encoding lent to a Python layout, the limits passed down.

use std::sync::{Arc, Mutex};

use stash_core::{Engine, EngineContext, EngineFactory, ErrorKind, Layout, Result, Stash, StashConfig};

/// A factory that offers the Python layout and records the context it was given,
/// opening memory engines underneath: what a third-party engine sees.
#[derive(Debug, Default)]
struct Recording(Mutex<Option<EngineContext>>);

impl EngineFactory for Recording {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn display_name(&self) -> &'static str {
        "Recording"
    }

    fn open(&self, context: &EngineContext) -> Result<Arc<dyn Engine>> {
        *self.0.lock().unwrap() = Some(context.clone());
        stash_engine_memory::Memory.open(context)
    }

    fn python_layout(&self) -> bool {
        true
    }
}

fn config(root: &std::path::Path) -> StashConfig {
    let mut config = StashConfig::default();
    config.engine = "memory".into();
    config.root_dir = root.into();
    config.compress = stash_core::Compression::Raw;
    config
}

#[test]
fn python_layout_is_refused_by_engines_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let err = Stash::open(config(dir.path()).python(), Arc::new(stash_engine_memory::Memory)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("engine `memory` has no Python-compatible layout"), "{err}");
}

#[test]
fn an_engine_that_offers_the_python_layout_gets_it_with_the_stash_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let factory = Arc::new(Recording::default());
    let mut cfg = config(dir.path()).python();
    cfg.max_value_bytes = 1000;
    Stash::open(cfg.clone(), factory.clone()).unwrap();
    let context = factory.0.lock().unwrap().take().unwrap();
    assert_eq!(context.path, cfg.data_path().unwrap());
    assert_eq!(context.logical_name, cfg.logical_name());
    assert_eq!(context.max_value_bytes, 1000);
    let Layout::Python(encoding) = &context.layout else { panic!("{:?}", context.layout) };
    assert_eq!(encoding.label(), "raw");
    assert!(!encoding.recompresses_python_keys());
    assert_eq!(encoding.decode(&encoding.encode(b"abc").unwrap()).unwrap(), b"abc");
    // Decodes are bounded by the stash's value-size limit.
    let big = encoding.encode(&[7; 1001]).unwrap();
    assert_eq!(encoding.decode(&big).unwrap_err().kind(), ErrorKind::TooLarge);

    Stash::open(config(dir.path()), factory.clone()).unwrap();
    let native = factory.0.lock().unwrap().take().unwrap();
    assert!(matches!(native.layout, Layout::Native));
}
