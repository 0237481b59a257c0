//! `S3Reader`: a blob streamed out of a `GET`'s body, chunk by chunk as
//! the HTTP client receives it.

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use strata_domain::BlobReader;

/// The body of one `GET`.
pub(super) struct S3Reader(pub(super) BoxStream<'static, object_store::Result<Bytes>>);

#[async_trait]
impl BlobReader for S3Reader {
    async fn next_chunk(&mut self) -> std::io::Result<Option<Bytes>> {
        match self.0.next().await {
            Some(Ok(chunk)) => Ok(Some(chunk)),
            Some(Err(e)) => Err(std::io::Error::other(format!("s3 read: {e}"))),
            None => Ok(None),
        }
    }
}
