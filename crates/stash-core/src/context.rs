//! How a stash opens its engine: the [`EngineContext`] made from a
//! [`StashConfig`], and the stash's [`Encoding`] lent to a Python layout as a
//! [`ByteEncoding`].

use std::sync::Arc;

use stash_codec::Encoding;

use crate::config::StashConfig;
use crate::engine::{ByteEncoding, EngineContext, EngineFactory, Layout};
use crate::error::{Error, ErrorKind, Result};

impl StashConfig {
    /// The context `factory` opens the engine of this stash with: its data folder
    /// ([`data_path`](StashConfig::data_path)), logical name, URL, layout and limits.
    /// A `python_compatible` stash on an engine without a Python layout is a `Config`
    /// error. [`Stash::open`](crate::Stash::open) calls it; a test or a tool that
    /// opens an engine by hand can too.
    pub fn engine_context(&self, factory: &dyn EngineFactory) -> Result<EngineContext> {
        let layout = if self.python_compatible {
            if !factory.python_layout() {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "engine `{}` has no Python-compatible layout: use `pairtree` or `lmdb`",
                        factory.name()
                    ),
                )
                .with_context("python_compatible", true));
            }
            Layout::Python(Arc::new(StashEncoding(self.encoding()?)))
        } else {
            Layout::Native
        };
        Ok(EngineContext::new(self.data_path()?)
            .with_logical_name(self.logical_name())
            .with_url(self.url.clone())
            .with_layout(layout)
            .with_max_value_bytes(self.max_value_bytes)
            .with_digest(self.digest)
            .with_options(self.engine_options.clone()))
    }

    /// The byte encoding of this stash (compressor, base64), its decodes bounded by
    /// [`max_value_bytes`](StashConfig::max_value_bytes).
    pub fn encoding(&self) -> Result<Encoding> {
        // `usize` can only be smaller than `u64` on 32-bit targets.
        let max_decoded = usize::try_from(self.max_value_bytes).unwrap_or(usize::MAX);
        Ok(Encoding::of(self.compress, self.b64)
            .map_err(crate::formats::codec_error)?
            .with_max_decoded(max_decoded))
    }
}

/// The stash's encoding, as engines see it.
#[derive(Debug)]
struct StashEncoding(Encoding);

impl ByteEncoding for StashEncoding {
    fn encode(&self, plain: &[u8]) -> Result<Vec<u8>> {
        self.0.encode_to_vec(plain).map_err(crate::formats::codec_error)
    }

    fn decode(&self, encoded: &[u8]) -> Result<Vec<u8>> {
        self.0.decode_to_vec(encoded).map_err(crate::formats::codec_error)
    }

    fn python_key(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.0.python_key(key).map_err(crate::formats::codec_error)
    }

    fn recompresses_python_keys(&self) -> bool {
        self.0.recompresses_python_keys()
    }

    fn label(&self) -> String {
        self.0.label()
    }
}
