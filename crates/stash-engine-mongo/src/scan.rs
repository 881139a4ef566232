//! Scans: pages of documents in `_id` order, each page one `find` from the
//! last `_id` seen, so no server cursor outlives a page and the caller may
//! write to the stash while it iterates.

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Document, RawDocument, RawDocumentBuf, doc};
use mongodb::sync::{Collection, Cursor};
use stash_core::{Error, Result};

use crate::client::{backend, error_code};
use crate::layout;

/// The error code of a cursor the server has forgotten (timed out).
const CURSOR_NOT_FOUND: i32 = 43;

/// How a scan reads: which documents, which fields, how many per page.
pub(crate) struct ScanSpec {
    /// Extra conditions (the live clause), or none.
    pub filter: Option<Document>,
    /// Fields to leave out, or none.
    pub projection: Option<Document>,
    /// Documents per page (one `find` each).
    pub page: i64,
    /// Documents per reply within a page.
    pub batch: u32,
}

/// A streaming scan that maps each document with `map`; a document that
/// fails to map yields one `Err` and the scan goes on.
pub(crate) struct Scan<T> {
    collection: Collection<RawDocumentBuf>,
    spec: ScanSpec,
    url: String,
    namespace: String,
    map: fn(&RawDocument) -> Result<T>,
    last: Option<ObjectId>,
    cursor: Option<Cursor<RawDocumentBuf>>,
    in_page: i64,
    done: bool,
}

impl<T> Scan<T> {
    pub(crate) fn new(
        collection: Collection<RawDocumentBuf>,
        spec: ScanSpec,
        url: String,
        namespace: String,
        map: fn(&RawDocument) -> Result<T>,
    ) -> Self {
        Scan { collection, spec, url, namespace, map, last: None, cursor: None, in_page: 0, done: false }
    }

    fn error(&self, err: mongodb::error::Error) -> Error {
        backend(err, "scan the stash", &self.url, &self.namespace)
    }

    fn open_page(&mut self) -> Result<Cursor<RawDocumentBuf>> {
        let mut filter = self.spec.filter.clone().unwrap_or_default();
        if let Some(last) = self.last {
            filter.insert("_id", doc! { "$gt": last });
        }
        let mut find = self
            .collection
            .find(filter)
            .sort(doc! { "_id": 1 })
            .limit(self.spec.page)
            .batch_size(self.spec.batch);
        if let Some(projection) = &self.spec.projection {
            find = find.projection(projection.clone());
        }
        find.run().map_err(|e| self.error(e))
    }
}

impl<T> Iterator for Scan<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        let mut reopened = false;
        loop {
            if self.done {
                return None;
            }
            let cursor = match &mut self.cursor {
                Some(cursor) => cursor,
                None => match self.open_page() {
                    Ok(cursor) => {
                        self.in_page = 0;
                        self.cursor.insert(cursor)
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                },
            };
            match cursor.next() {
                Some(Ok(doc)) => {
                    self.in_page += 1;
                    match layout::id(&doc) {
                        Ok(id) => self.last = Some(id),
                        Err(e) => {
                            // Without an `_id` the next page cannot start after it.
                            self.done = true;
                            return Some(Err(e));
                        }
                    }
                    return Some((self.map)(&doc));
                }
                Some(Err(e)) if error_code(&e) == Some(CURSOR_NOT_FOUND) && !reopened => {
                    // The caller paused past the server's cursor timeout: go on from the last `_id`.
                    reopened = true;
                    self.cursor = None;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(self.error(e)));
                }
                None => {
                    self.cursor = None;
                    if self.in_page < self.spec.page {
                        self.done = true;
                    }
                }
            }
        }
    }
}
