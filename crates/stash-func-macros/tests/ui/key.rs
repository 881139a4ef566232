//! Options of the key that do not fit the signature, and arguments that
//! cannot be part of a key.
use stash_func_macros::stashed_result;

#[stashed_result(ignore = [conn])]
fn ignore_unknown(x: u32, log: u32) -> u32 { x + log }

#[stashed_result(ignore = [self])]
fn ignore_self_without_receiver(x: u32) -> u32 { x }

#[stashed_result(key = x, ignore = [y])]
fn key_and_ignore(x: u32, y: u32) -> u32 { x + y }

#[stashed_result(key_type = u32)]
fn key_type_without_key(x: u32) -> u32 { x }

#[stashed_result(key = x, key_type = u32, store_args = false)]
fn key_type_without_stored_args(x: u32) -> u32 { x }

#[stashed_result(key = x.len())]
fn key_type_unknown(x: String) -> usize { x.len() }

#[stashed_result]
fn generic_argument<T: std::fmt::Display>(x: T) -> String { x.to_string() }

#[stashed_result]
fn impl_trait_argument(x: impl std::fmt::Display) -> String { x.to_string() }

#[stashed_result]
fn dyn_argument(x: &dyn std::fmt::Display) -> String { x.to_string() }

#[stashed_result(key = x.to_string())]
fn generic_key_without_type<T: std::fmt::Display>(x: T) -> String { x.to_string() }

#[stashed_result(ignore = [x])]
fn generic_result<T: Default>(x: u32) -> T { T::default() }

#[stashed_result]
fn mutable_argument(x: &mut Vec<u32>) -> usize { x.push(1); x.len() }

fn main() {}
