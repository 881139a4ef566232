//! Streams over a stash: a sync iterator driven on the blocking pool.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use stash_core::{Result, Stash};
use tokio::sync::mpsc;

/// Chunks in flight between the scanning thread and the consumer.
const CHUNKS_IN_FLIGHT: usize = 2;
/// The largest chunk: the scan sends 1 item, then 2, 4, ... up to this many at once,
/// so the first item comes at once and a long scan pays one hand-off per chunk.
const MAX_CHUNK: usize = 256;

type Start<T> = Box<dyn FnOnce() -> mpsc::Receiver<Vec<Result<T>>> + Send>;

/// A stream of stash entries (from [`AsyncStash::items`](crate::AsyncStash::items),
/// `keys`, `values`): the engine's scan runs on tokio's blocking pool, started
/// at the first poll, at most two chunks ahead of the consumer. Dropping the
/// stream stops the scan at its next chunk.
pub struct StashStream<T> {
    start: Option<Start<T>>,
    rx: Option<mpsc::Receiver<Vec<Result<T>>>>,
    buffered: std::vec::IntoIter<Result<T>>,
}

impl<T: Send + 'static> StashStream<T> {
    pub(crate) fn new<I, F>(stash: Stash, open: F) -> Self
    where
        I: Iterator<Item = Result<T>>,
        F: FnOnce(&Stash) -> Result<I> + Send + 'static,
    {
        let start: Start<T> = Box::new(move || {
            let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
            tokio::task::spawn_blocking(move || {
                let items = match open(&stash) {
                    Ok(items) => items,
                    Err(e) => {
                        // The consumer may be gone already: nothing to tell then.
                        let _ = tx.blocking_send(vec![Err(e)]);
                        return;
                    }
                };
                let mut size = 1;
                let mut chunk = Vec::with_capacity(size);
                for item in items {
                    chunk.push(item);
                    if chunk.len() == size {
                        size = (size * 2).min(MAX_CHUNK);
                        if tx.blocking_send(std::mem::replace(&mut chunk, Vec::with_capacity(size))).is_err()
                        {
                            return; // the stream was dropped
                        }
                    }
                }
                if !chunk.is_empty() {
                    let _ = tx.blocking_send(chunk);
                }
            });
            rx
        });
        StashStream { start: Some(start), rx: None, buffered: Vec::new().into_iter() }
    }
}

// Nothing in it is pinned (the stream is polled through `&mut`), whatever `T` is.
impl<T> Unpin for StashStream<T> {}

impl<T> Stream for StashStream<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(start) = this.start.take() {
            this.rx = Some(start());
        }
        loop {
            if let Some(item) = this.buffered.next() {
                return Poll::Ready(Some(item));
            }
            let Some(rx) = this.rx.as_mut() else { return Poll::Ready(None) };
            match rx.poll_recv(cx) {
                Poll::Ready(Some(chunk)) => this.buffered = chunk.into_iter(),
                Poll::Ready(None) => {
                    this.rx = None;
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let buffered = self.buffered.len();
        if self.start.is_none() && self.rx.is_none() { (buffered, Some(buffered)) } else { (buffered, None) }
    }
}
