//! Without the feature `async`, `#[stashed_result] async fn` is one compile
//! error naming the feature (tests/ui/async_without_feature.stderr). Runs when
//! the facade is tested without `async` (`cargo test -p hashstash`).
#![cfg(not(feature = "async"))]

#[test]
fn an_async_fn_needs_the_async_feature() {
    trybuild::TestCases::new().compile_fail("tests/ui/async_without_feature.rs");
}
