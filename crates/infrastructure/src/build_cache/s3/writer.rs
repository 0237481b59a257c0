//! `S3Writer`: a CAS upload into the object store, verified before it
//! becomes visible.
//!
//! A blob of at most one part (`part_bytes`) is held in memory and stored
//! with one `PUT` after its digest checks out. A larger one becomes an S3
//! multipart upload: parts go out as they fill (a few in flight), and the
//! upload is completed, which makes the object appear atomically, only
//! after the digest checks out; otherwise, and when the writer is
//! dropped, it is aborted. A process killed mid-upload leaves an
//! incomplete multipart upload, which S3 never shows as an object (a
//! bucket lifecycle rule `AbortIncompleteMultipartUpload` reclaims its
//! parts).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use strata_domain::{BlobWriter, BuildCacheError, Committed};

use super::S3Shared;
use crate::build_cache::verify::Verifier;

/// Parts of a multipart upload in flight at once, per upload.
const PARTS_IN_FLIGHT: usize = 4;

/// One CAS upload (see the module docs).
pub(super) struct S3Writer {
    pub(super) shared: Arc<S3Shared>,
    pub(super) path: Path,
    pub(super) verifier: Verifier,
    /// The bytes not yet in a part (the whole blob while it fits one).
    pub(super) buf: BytesMut,
    /// The multipart upload, once the blob outgrew one part.
    pub(super) upload: Option<WriteMultipart>,
    /// The blob was already stored when the upload began: the body is
    /// only verified, nothing is written.
    pub(super) present: bool,
    /// Set once the multipart upload was completed or aborted.
    pub(super) done: bool,
}

impl S3Writer {
    async fn start_multipart(&mut self) -> Result<(), BuildCacheError> {
        let upload = self
            .shared
            .store
            .put_multipart(&self.path)
            .await
            .map_err(|e| self.shared.error("start a multipart upload", e))?;
        let mut upload = WriteMultipart::new_with_chunk_size(upload, self.shared.part_bytes);
        upload.put(std::mem::take(&mut self.buf).freeze());
        self.upload = Some(upload);
        Ok(())
    }

    async fn abort(&mut self) {
        if let Some(upload) = self.upload.take()
            && let Err(e) = upload.abort().await
        {
            tracing::warn!(error = %e, "an aborted multipart upload was not cleaned up; a lifecycle rule reclaims it");
        }
        self.done = true;
    }
}

#[async_trait]
impl BlobWriter for S3Writer {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BuildCacheError> {
        if let Err(e) = self.verifier.update(&chunk) {
            self.abort().await;
            return Err(e);
        }
        if self.present {
            return Ok(());
        }
        if let Some(upload) = &mut self.upload {
            let waited = upload.wait_for_capacity(PARTS_IN_FLIGHT).await;
            if let Err(e) = waited {
                let err = self.shared.error("upload a part", e);
                self.abort().await;
                return Err(err);
            }
            upload.put(chunk);
            return Ok(());
        }
        self.buf.extend_from_slice(&chunk);
        if self.buf.len() > self.shared.part_bytes {
            self.start_multipart().await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<Committed, BuildCacheError> {
        let verifier = std::mem::replace(
            &mut self.verifier,
            Verifier::new(strata_domain::DigestHash::EMPTY, None, 0)?,
        );
        let digest = match verifier.finish() {
            Ok(d) => d,
            Err(e) => {
                self.abort().await;
                return Err(e);
            }
        };
        if digest.is_empty_blob() || self.present {
            self.done = true;
            return Ok(Committed {
                digest,
                created: false,
            });
        }
        match self.upload.take() {
            Some(upload) => {
                self.done = true;
                upload
                    .finish()
                    .await
                    .map_err(|e| self.shared.error("complete a multipart upload", e))?;
            }
            None => {
                let body = PutPayload::from(std::mem::take(&mut self.buf).freeze());
                self.shared
                    .store
                    .put(&self.path, body)
                    .await
                    .map_err(|e| self.shared.error("put a blob", e))?;
            }
        }
        self.shared.uploaded(&self.path, digest.size_bytes()).await;
        Ok(Committed {
            digest,
            created: true,
        })
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(upload) = self.upload.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Err(e) = upload.abort().await {
                    tracing::debug!(error = %e, "a dropped multipart upload was not aborted; a lifecycle rule reclaims it");
                }
            });
        }
    }
}
