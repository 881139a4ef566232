//! Malformed and conflicting options.
use stash_func_macros::{stash_fingerprint, stash_mapped, stashed_result};

#[stashed_result(engine)]
fn no_value(x: u32) -> u32 { x }

#[stashed_result(colour = "red")]
fn unknown(x: u32) -> u32 { x }

#[stashed_result(name = "a", name = "b")]
fn twice(x: u32) -> u32 { x }

#[stashed_result(ttl = "1h", ttl_secs = 5)]
fn two_ttls(x: u32) -> u32 { x }

#[stashed_result(name = a)]
fn name_not_a_string(x: u32) -> u32 { x }

#[stashed_result(version = 2)]
fn version_not_a_string(x: u32) -> u32 { x }

#[stashed_result(crate = hashstash)]
fn crate_not_a_string(x: u32) -> u32 { x }

#[stashed_result(stash = open(), engine = "memory")]
fn stash_and_builder(x: u32) -> u32 { x }

#[stashed_result(ttl = "1 hour")]
fn bad_ttl(x: u32) -> u32 { x }

#[stashed_result(ttl = "0s")]
fn zero_ttl(x: u32) -> u32 { x }

#[stashed_result(store_args = "no")]
fn store_args_not_a_bool(x: u32) -> u32 { x }

#[stashed_result(ignore = x)]
fn ignore_not_a_list(x: u32) -> u32 { x }

#[stashed_result(deps = [depends_on_itself])]
fn depends_on_itself(x: u32) -> u32 { x }

#[stash_mapped(ignore = [y])]
fn mapped_with_ignore(x: u32, y: u32) -> u32 { x + y }

#[stash_fingerprint(ttl = "1h")]
fn fingerprint_with_ttl(x: u32) -> u32 { x }

#[stashed_result]
struct NotAFunction;

fn main() {}
