//! Scans: pages of documents in `_id` order, each page one `find` from the
//! last `_id` seen, so no server cursor outlives a page and the caller may
//! write to the stash while it iterates.

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Document, RawDocument, RawDocumentBuf, doc};
use mongodb::sync::{Collection, Cursor};
use stash_engine_api::{Error, Result};

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

/// Turns one scanned document into an item.
pub(crate) type MapDoc<T> = Box<dyn FnMut(&RawDocument) -> Result<T> + Send>;

/// A streaming scan that maps each document with `map`; a document that
/// fails to map yields one `Err` and the scan goes on.
pub(crate) struct Scan<T> {
    collection: Collection<RawDocumentBuf>,
    spec: ScanSpec,
    url: String,
    namespace: String,
    map: MapDoc<T>,
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
        map: MapDoc<T>,
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

/// Reply bytes (keys and inline values) one fetch of a value scan aims at.
const GROUP_BYTES: usize = 8 * 1024 * 1024;
/// Documents one fetch of a value scan takes at most.
const GROUP_DOCS: usize = 1000;

/// A scan of whole documents in two steps: pages of `_id`s and sizes
/// (without values), then the documents themselves fetched by `_id` in
/// groups of about 8 MiB, so no reply grows past what a server may send.
pub(crate) struct ValueScan<T> {
    ids: Scan<(mongodb::bson::oid::ObjectId, usize)>,
    collection: Collection<RawDocumentBuf>,
    filter: Document,
    url: String,
    namespace: String,
    map: MapDoc<T>,
    carry: Option<(mongodb::bson::oid::ObjectId, usize)>,
    pending: std::collections::VecDeque<RawDocumentBuf>,
    done: bool,
}

impl<T> ValueScan<T> {
    pub(crate) fn new(
        collection: Collection<RawDocumentBuf>,
        filter: Document,
        url: String,
        namespace: String,
        map: MapDoc<T>,
    ) -> Self {
        let spec = ScanSpec {
            filter: Some(filter.clone()),
            projection: Some(doc! { "_id": 1, "key": 1, "inline": 1 }),
            page: GROUP_DOCS as i64,
            batch: GROUP_DOCS as u32,
        };
        let size: MapDoc<(mongodb::bson::oid::ObjectId, usize)> = Box::new(|doc| {
            let key = doc.get_binary("key").map(|b| b.bytes.len()).unwrap_or(0);
            let inline = match doc.get("inline") {
                Ok(Some(mongodb::bson::RawBsonRef::Int32(n))) => n.max(0) as usize,
                Ok(Some(mongodb::bson::RawBsonRef::Int64(n))) => n.max(0) as usize,
                Ok(Some(mongodb::bson::RawBsonRef::Double(f))) => f.max(0.0) as usize,
                _ => 0,
            };
            Ok((layout::id(doc)?, key.saturating_add(inline)))
        });
        ValueScan {
            ids: Scan::new(collection.clone(), spec, url.clone(), namespace.clone(), size),
            collection,
            filter,
            url,
            namespace,
            map,
            carry: None,
            pending: Default::default(),
            done: false,
        }
    }

    fn fetch(&mut self, group: Vec<mongodb::bson::oid::ObjectId>) -> Result<()> {
        let mut filter = self.filter.clone();
        let count = group.len() as u32;
        filter.insert("_id", doc! { "$in": group });
        let cursor = self
            .collection
            .find(filter)
            .sort(doc! { "_id": 1 })
            .batch_size(count.max(1))
            .run()
            .map_err(|e| backend(e, "scan the stash", &self.url, &self.namespace))?;
        for doc in cursor {
            self.pending
                .push_back(doc.map_err(|e| backend(e, "scan the stash", &self.url, &self.namespace))?);
        }
        Ok(())
    }
}

impl<T> Iterator for ValueScan<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(doc) = self.pending.pop_front() {
                return Some((self.map)(&doc));
            }
            if self.done {
                return None;
            }
            let mut group = Vec::new();
            let mut bytes = 0usize;
            loop {
                let next = match self.carry.take() {
                    Some(item) => item,
                    None => match self.ids.next() {
                        Some(Ok(item)) => item,
                        Some(Err(e)) => {
                            if group.is_empty() {
                                return Some(Err(e));
                            }
                            // Fetch what we have; the error is lost only if the id scan ends here.
                            break;
                        }
                        None => {
                            self.done = true;
                            break;
                        }
                    },
                };
                if !group.is_empty()
                    && (bytes.saturating_add(next.1) > GROUP_BYTES || group.len() == GROUP_DOCS)
                {
                    self.carry = Some(next);
                    break;
                }
                bytes = bytes.saturating_add(next.1);
                group.push(next.0);
            }
            if !group.is_empty()
                && let Err(e) = self.fetch(group)
            {
                self.done = true;
                return Some(Err(e));
            }
        }
    }
}
