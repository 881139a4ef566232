//! Every compile error of the macros, with its message (tests/ui/*.stderr,
//! made by the stable toolchain: `TRYBUILD=overwrite cargo test -p
//! stash-func-macros --test ui` after a deliberate change of a message).

#[test]
fn macro_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
