//! Signatures the macros do not take.
use stash_func_macros::{stash_mapped, stashed_result};

#[stash_mapped]
async fn asynchronous(x: u32) -> u32 { x }

struct S;

impl S {
    #[stashed_result]
    fn mutating(&mut self, x: u32) -> u32 { x }

    #[stashed_result]
    fn boxed(self: Box<Self>, x: u32) -> u32 { x }

    #[stash_mapped]
    fn mapped_mutating(&mut self, x: u32) -> u32 { x }

    #[stash_mapped(ignore = [x])]
    fn mapped_ignoring(&self, x: u32, y: u32) -> u32 { x + y }
}

#[stash_mapped]
fn mapped_without_arguments() -> u32 { 1 }

#[stash_mapped]
fn mapped_generic<T: Clone>(x: T) -> u32 { 1 }

#[stash_mapped]
fn mapped_reference(x: &str) -> usize { x.len() }

#[stash_mapped]
fn mapped_impl_trait(x: impl Clone) -> usize { 1 }

fn main() {}
