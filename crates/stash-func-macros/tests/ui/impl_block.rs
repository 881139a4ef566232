//! `#[stashed_result]` on an `impl` block, where it does not apply.
use stash_func_macros::stashed_result;

struct S;
struct G<T>(T);
trait Tr {
    fn f(&self, x: u32) -> u32;
}

#[stashed_result(engine = "memory")]
impl S {
    #[stashed_result]
    fn with_options(&self, x: u32) -> u32 { x }
}

#[stashed_result]
impl<T> G<T> {
    #[stashed_result]
    fn generic(&self, x: u32) -> u32 { x }
}

#[stashed_result]
impl Tr for &'static S {
    #[stashed_result(accessors = false)]
    fn f(&self, x: u32) -> u32 { x }
}

#[stashed_result]
impl S {
    fn unmarked(&self, x: u32) -> u32 { x }
}

fn main() {}
