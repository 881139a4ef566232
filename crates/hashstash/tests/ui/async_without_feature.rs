//! `#[stashed_result]` on an `async fn` with hashstash built without its `async` feature.
use hashstash::stashed_result;

#[stashed_result(engine = "memory")]
async fn double(x: u32) -> u32 {
    x * 2
}

fn main() {}
