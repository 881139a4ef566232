//! `#[stashed_result]` on methods and associated functions, and pruning old
//! code versions.
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

use serde::{Deserialize, Serialize};
use stash_func::stashed_result;

/// What the facade offers the macro.
mod hs {
    pub use stash_core::Error;
    pub use stash_func as func;
}

static DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());
static CALLS: AtomicUsize = AtomicUsize::new(0);
static LOCK: Mutex<()> = Mutex::new(());

fn mem() -> stash_core::Result<stash_core::Stash> {
    Ok(common::memory(&DIR.path().join("mem")))
}

fn disk() -> stash_core::Result<stash_core::Stash> {
    Ok(common::pairtree(&DIR.path().join("disk")))
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Scaler {
    factor: u32,
}

impl Scaler {
    #[stashed_result(stash = mem(), crate = "crate::hs")]
    fn scale(&self, x: u32) -> u32 {
        CALLS.fetch_add(1, Ordering::SeqCst);
        x * self.factor
    }

    #[stashed_result(stash = mem(), crate = "crate::hs")]
    fn into_scaled(mut self, (a, b): (u32, u32)) -> Scaler {
        CALLS.fetch_add(1, Ordering::SeqCst);
        self.factor *= a + b;
        self
    }

    #[stashed_result(stash = mem(), crate = "crate::hs")]
    fn checked(&self, x: u32) -> Result<u32, stash_core::Error> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        Ok(x + self.factor)
    }

    /// An associated function without receiver, using `Self`.
    #[stashed_result(stash = mem(), crate = "crate::hs")]
    fn make(factor: u32) -> Self {
        CALLS.fetch_add(1, Ordering::SeqCst);
        Self { factor }
    }
}

#[test]
fn methods_key_on_self() {
    let _l = LOCK.lock().unwrap();
    let (two, three) = (Scaler { factor: 2 }, Scaler { factor: 3 });
    let before = CALLS.load(Ordering::SeqCst);
    assert_eq!(two.scale(10), 20);
    assert_eq!(three.scale(10), 30);
    assert_eq!(CALLS.load(Ordering::SeqCst), before + 2, "different instances share nothing");
    assert_eq!(two.scale(10), 20);
    assert_eq!(Scaler { factor: 3 }.scale(10), 30, "equal state, same result");
    assert_eq!(two.try_scale(10).unwrap(), 20);
    assert_eq!(CALLS.load(Ordering::SeqCst), before + 2, "same instance is cached");

    let fs = Scaler::scale_stash().unwrap();
    assert_eq!(fs.get_func(&(two.clone(), 10)).unwrap(), Some(20));
    assert_eq!(fs.get_func(&(three.clone(), 10)).unwrap(), Some(30));
    assert_eq!(fs.len().unwrap(), 2);
    assert!(fs.name().ends_with("Scaler::scale"), "{}", fs.name());

    // By-value receiver, argument patterns, `mut self`.
    let before = CALLS.load(Ordering::SeqCst);
    assert_eq!(two.clone().into_scaled((1, 2)), Scaler { factor: 6 });
    assert_eq!(two.clone().into_scaled((1, 2)), Scaler { factor: 6 });
    assert_eq!(three.clone().into_scaled((1, 2)), Scaler { factor: 9 });
    assert_eq!(CALLS.load(Ordering::SeqCst), before + 2);
    let got = Scaler::into_scaled_stash().unwrap().get_func(&(two.clone(), (1, 2))).unwrap();
    assert_eq!(got, Some(Scaler { factor: 6 }));

    // `Result` method, associated function.
    let before = CALLS.load(Ordering::SeqCst);
    assert_eq!(two.checked(1).unwrap(), 3);
    assert_eq!(two.checked(1).unwrap(), 3);
    assert_eq!(three.checked(1).unwrap(), 4);
    assert_eq!(Scaler::make(7), Scaler { factor: 7 });
    assert_eq!(Scaler::make(7), Scaler { factor: 7 });
    assert_eq!(Scaler::try_make(7).unwrap(), Scaler { factor: 7 });
    assert_eq!(CALLS.load(Ordering::SeqCst), before + 3);
    assert_eq!(Scaler::make_stash().unwrap().get_func(&(7,)).unwrap(), Some(Scaler { factor: 7 }));
}

#[stashed_result(stash = disk(), crate = "crate::hs")]
fn on_disk(x: u32) -> u32 {
    x + 100
}

#[stashed_result(stash = mem(), crate = "crate::hs")]
fn in_memory(x: u32) -> u32 {
    x + 100
}

#[test]
fn old_code_versions_are_listed_and_pruned() {
    let _l = LOCK.lock().unwrap();
    assert_eq!(on_disk(1), 101);
    let fs = on_disk_stash().unwrap();
    let current = fs.version().unwrap().to_string();
    assert!(current.starts_with("code-"), "{current}");
    assert_eq!(fs.old_versions().unwrap(), Vec::<String>::new());

    // What an earlier body (and an explicit `version = "1"`) left behind.
    let parent = disk().unwrap();
    for old in ["code-0123456789abcdef", "v1"] {
        let fs_old =
            stash_func::__private::function_stash::<(u32,), u32>(Ok(&parent), fs.name(), old).unwrap();
        fs_old.set(&(1u32,), &1u32).unwrap();
        assert_eq!(fs_old.get_func(&(1,)).unwrap(), Some(1));
    }
    let function_dir = fs.path().parent().unwrap().parent().unwrap().parent().unwrap().to_path_buf();
    assert!(function_dir.join("v1").is_dir());
    assert_eq!(fs.old_versions().unwrap(), vec!["code-0123456789abcdef".to_string(), "v1".to_string()]);

    assert_eq!(fs.prune_old_versions().unwrap(), 2);
    assert!(!function_dir.join("v1").exists() && !function_dir.join("code-0123456789abcdef").exists());
    assert!(function_dir.join(&current).is_dir(), "the current version stays");
    assert_eq!(fs.old_versions().unwrap(), Vec::<String>::new());
    assert_eq!(fs.prune_old_versions().unwrap(), 0);
    assert_eq!(fs.get_func(&(1,)).unwrap(), Some(101), "current results kept");
    assert_eq!(on_disk(1), 101);

    // Memory engine: nothing on disk, a no-op.
    assert_eq!(in_memory(1), 101);
    let mem_fs = in_memory_stash().unwrap();
    assert_eq!(mem_fs.old_versions().unwrap(), Vec::<String>::new());
    assert_eq!(mem_fs.prune_old_versions().unwrap(), 0);
    assert_eq!(mem_fs.get_func(&(1,)).unwrap(), Some(101));
}

/// A trait the stashed method implements: a trait impl takes no extra items.
trait Describe {
    fn describe(&self, x: u32) -> String;
    fn checked_describe(&self, x: u32) -> Result<String, stash_core::Error>;
}

static DESCRIBED: AtomicUsize = AtomicUsize::new(0);

impl Describe for Scaler {
    #[stashed_result(stash = mem(), crate = "crate::hs", accessors = false, name = "scaler::describe")]
    fn describe(&self, x: u32) -> String {
        DESCRIBED.fetch_add(1, Ordering::SeqCst);
        format!("{x} x {}", self.factor)
    }

    #[stashed_result(stash = mem(), crate = "crate::hs", accessors = false)]
    fn checked_describe(&self, x: u32) -> Result<String, stash_core::Error> {
        DESCRIBED.fetch_add(1, Ordering::SeqCst);
        Ok(format!("checked {x} x {}", self.factor))
    }
}

#[test]
fn trait_impl_methods_are_stashed_without_accessors() {
    let _l = LOCK.lock().unwrap();
    let before = DESCRIBED.load(Ordering::SeqCst);
    let (two, three) = (Scaler { factor: 2 }, Scaler { factor: 3 });
    assert_eq!(two.describe(5), "5 x 2");
    assert_eq!(two.describe(5), "5 x 2");
    assert_eq!(three.describe(5), "5 x 3", "self is in the key");
    assert_eq!(two.checked_describe(5).unwrap(), "checked 5 x 2");
    assert_eq!(two.checked_describe(5).unwrap(), "checked 5 x 2");
    assert_eq!(DESCRIBED.load(Ordering::SeqCst) - before, 3);
    let dynamic: &dyn Describe = &two;
    assert_eq!(dynamic.describe(5), "5 x 2");
    assert_eq!(DESCRIBED.load(Ordering::SeqCst) - before, 3, "through the trait object too");
}
