//! `#[stashed_result]` on methods and associated functions, and pruning old
//! code versions.
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

use serde::{Deserialize, Serialize};
use stash_func::{stash_mapped, stashed_result};

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

static MAPPED: AtomicUsize = AtomicUsize::new(0);

/// `#[stash_mapped]` on methods: the receiver is the first common argument.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Tagger {
    tag: String,
}

impl Tagger {
    /// `self` in the key: key `(input, Self)`.
    #[stash_mapped(stash = mem(), crate = "crate::hs")]
    fn tag(&self, word: String) -> String {
        MAPPED.fetch_add(1, Ordering::SeqCst);
        format!("{}:{word}", self.tag)
    }

    /// `self` and another common argument: key `(input, (Self, times))`.
    #[stash_mapped(stash = mem(), crate = "crate::hs")]
    fn tag_times(self, word: String, times: usize) -> String {
        MAPPED.fetch_add(1, Ordering::SeqCst);
        format!("{}:{word}", self.tag).repeat(times)
    }

    /// `ignore = [self]`: the results do not depend on it, key `(input,)`.
    #[stash_mapped(stash = mem(), crate = "crate::hs", ignore = [self])]
    fn shout(&self, word: String) -> String {
        MAPPED.fetch_add(1, Ordering::SeqCst);
        word.to_uppercase()
    }

    /// A by-value receiver left out of the key: each call gets a clone.
    #[stash_mapped(stash = mem(), crate = "crate::hs", ignore = [self])]
    fn into_padded(self, word: String) -> String {
        MAPPED.fetch_add(1, Ordering::SeqCst);
        format!("{word:>5}")
    }

    /// An associated function without receiver, in an impl.
    #[stash_mapped(stash = mem(), crate = "crate::hs")]
    fn length(word: String) -> usize {
        MAPPED.fetch_add(1, Ordering::SeqCst);
        Self::count(&word)
    }

    fn count(word: &str) -> usize {
        word.chars().count()
    }
}

fn ok<R>(runs: Vec<stash_func::Result<R>>) -> Vec<R> {
    runs.into_iter().map(|r| r.unwrap()).collect()
}

#[test]
fn mapped_methods_key_on_self_unless_ignored() {
    let _l = LOCK.lock().unwrap();
    let words = || ["cat", "dog"].map(String::from);
    let (a, b) = (Tagger { tag: "a".into() }, Tagger { tag: "b".into() });
    let before = MAPPED.load(Ordering::SeqCst);
    assert_eq!(ok(a.tag_map(words()).unwrap().threads(2).results().unwrap()), ["a:cat", "a:dog"]);
    assert_eq!(ok(a.tag_map(words()).unwrap().results().unwrap()), ["a:cat", "a:dog"]);
    assert_eq!(MAPPED.load(Ordering::SeqCst), before + 2, "the second map reads stored results");
    assert_eq!(ok(b.tag_map(words()).unwrap().results().unwrap()), ["b:cat", "b:dog"]);
    assert_eq!(MAPPED.load(Ordering::SeqCst), before + 4, "another self, other results");
    let fs = Tagger::tag_map_stash().unwrap();
    assert_eq!(fs.get_func(&("dog".to_string(), a.clone())).unwrap(), Some("a:dog".into()));
    assert_eq!(fs.len().unwrap(), 4);
    assert!(fs.name().ends_with("Tagger::tag"), "{}", fs.name());
    assert_eq!(a.tag("x".into()), "a:x", "the method itself is unchanged");

    let before = MAPPED.load(Ordering::SeqCst);
    assert_eq!(ok(a.tag_times_map(words(), 2).unwrap().results().unwrap()), ["a:cata:cat", "a:doga:dog"]);
    assert_eq!(ok(a.tag_times_map(words(), 2).unwrap().results().unwrap()).len(), 2);
    assert_eq!(MAPPED.load(Ordering::SeqCst), before + 2);
    let fs = Tagger::tag_times_map_stash().unwrap();
    assert_eq!(fs.get_func(&("cat".to_string(), (a.clone(), 2))).unwrap(), Some("a:cata:cat".into()));
    assert_eq!(fs.get_func(&("cat".to_string(), (b.clone(), 2))).unwrap(), None);

    let before = MAPPED.load(Ordering::SeqCst);
    assert_eq!(ok(a.shout_map(words()).unwrap().results().unwrap()), ["CAT", "DOG"]);
    assert_eq!(ok(b.shout_map(words()).unwrap().results().unwrap()), ["CAT", "DOG"]);
    assert_eq!(MAPPED.load(Ordering::SeqCst), before + 2, "self ignored: b finds a's results");
    let fs = Tagger::shout_map_stash().unwrap();
    assert_eq!(fs.get_func(&("cat".to_string(),)).unwrap(), Some("CAT".into()));

    let before = MAPPED.load(Ordering::SeqCst);
    assert_eq!(ok(a.into_padded_map(words()).unwrap().threads(2).results().unwrap()), ["  cat", "  dog"]);
    assert_eq!(ok(b.into_padded_map(words()).unwrap().results().unwrap()), ["  cat", "  dog"]);
    assert_eq!(MAPPED.load(Ordering::SeqCst), before + 2);
    let fs = Tagger::into_padded_map_stash().unwrap();
    assert_eq!(fs.get_func(&("dog".to_string(),)).unwrap(), Some("  dog".into()));

    let before = MAPPED.load(Ordering::SeqCst);
    assert_eq!(ok(Tagger::length_map(words()).unwrap().results().unwrap()), [3, 3]);
    assert_eq!(ok(Tagger::length_map(words()).unwrap().results().unwrap()), [3, 3]);
    assert_eq!(MAPPED.load(Ordering::SeqCst), before + 2);
    assert_eq!(Tagger::length_map_stash().unwrap().get_func(&("cat".to_string(),)).unwrap(), Some(3));
}

/// The type is defined here, its stashed methods elsewhere: `type_name` says
/// `methods::shapes::Square`, the names say where the impl is.
mod shapes {
    #[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
    pub struct Square(pub u32);
}

mod geometry {
    use super::shapes::Square;
    use super::*;

    fn broken() -> stash_core::Result<stash_core::Stash> {
        Err(stash_core::Error::new(stash_core::ErrorKind::Io, "disk on fire"))
    }

    pub static CALLS: AtomicUsize = AtomicUsize::new(0);

    #[stashed_result]
    impl Square {
        #[stashed_result(stash = mem(), crate = "crate::hs")]
        pub fn area(&self) -> u32 {
            CALLS.fetch_add(1, Ordering::SeqCst);
            self.0 * self.0
        }

        #[stashed_result(stash = mem(), crate = "crate::hs", name = "squares::scaled")]
        pub fn scaled(&self, by: u32) -> Square {
            Square(self.0 * by)
        }

        #[stash_mapped(stash = mem(), crate = "crate::hs")]
        pub fn sides(&self, n: u32) -> u32 {
            CALLS.fetch_add(1, Ordering::SeqCst);
            self.0 * n
        }

        #[stashed_result(stash = mem(), crate = "crate::hs")]
        pub fn unit() -> Square {
            Square(1)
        }

        /// Unmarked items stay as they are.
        pub fn side(&self) -> u32 {
            self.0
        }
    }

    #[stashed_result]
    impl super::Describe for Square {
        /// Its stash cannot open: the panic names the function.
        #[stashed_result(stash = broken(), crate = "crate::hs", accessors = false)]
        fn describe(&self, x: u32) -> String {
            format!("{x} squares of {}", self.0)
        }

        #[stashed_result(stash = mem(), crate = "crate::hs", accessors = false)]
        fn checked_describe(&self, x: u32) -> Result<String, stash_core::Error> {
            Ok(format!("checked {x} squares of {}", self.0))
        }
    }
}

/// Issue 17 (stable names): `#[stashed_result]` on the impl block gives its
/// methods literal names, `module_path!()::Type::method` where the impl is,
/// which do not come from `type_name` (whose output may change between
/// compilers).
#[test]
fn an_impl_marked_stashed_result_names_its_methods_by_literals() {
    let _l = LOCK.lock().unwrap();
    use shapes::Square;
    assert_eq!(std::any::type_name::<Square>(), "methods::shapes::Square", "where the type is");
    let before = geometry::CALLS.load(Ordering::SeqCst);
    assert_eq!(Square(3).area(), 9);
    assert_eq!(Square(3).area(), 9);
    assert_eq!(Square(3).try_area().unwrap(), 9);
    assert_eq!(geometry::CALLS.load(Ordering::SeqCst), before + 1);
    let fs = Square::area_stash().unwrap();
    assert_eq!(fs.name(), "methods::geometry::Square::area");
    assert_ne!(fs.name(), format!("{}::area", std::any::type_name::<Square>()), "not from type_name");
    assert_eq!(fs.get_func(&(Square(3),)).unwrap(), Some(9));
    assert!(fs.path().to_string_lossy().contains("stashed_result/methods::geometry::Square::area/code-"));

    assert_eq!(Square(2).scaled(3), Square(6));
    assert_eq!(Square::scaled_stash().unwrap().name(), "squares::scaled", "`name` still wins");
    assert_eq!(Square::unit(), Square(1));
    assert_eq!(Square::unit_stash().unwrap().name(), "methods::geometry::Square::unit");
    assert_eq!(Square(1).side(), 1);

    let runs = Square(2).sides_map([1, 2]).unwrap().results().unwrap();
    assert_eq!(ok(runs), [2, 4]);
    let fs = Square::sides_map_stash().unwrap();
    assert_eq!(fs.name(), "methods::geometry::Square::sides");
    assert_eq!(fs.get_func(&(2, Square(2))).unwrap(), Some(4));

    // A trait impl: `<Type as Trait>`, as a failure names the function.
    assert_eq!(Square(2).checked_describe(3).unwrap(), "checked 3 squares of 2");
    let panic = std::panic::catch_unwind(|| Square(2).describe(3)).unwrap_err();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("`methods::geometry::<Square as Describe>::describe`"), "{message}");
}
