//! The size limit of a batch request: how many keys or entries one
//! `batchGet`, `batchPut` or invalidation by keys or tags may name.

/// Most items (keys, entries or tags) one batch may hold; at least one is
/// needed.
pub const MAX_BATCH: usize = 1000;

/// A batch with no item, or with more than [`MAX_BATCH`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a batch holds 1 to {MAX_BATCH} items, got {len}")]
pub struct BatchSizeError {
    /// How many items the batch held.
    pub len: usize,
}

/// Checks that a batch of `len` items holds 1 to [`MAX_BATCH`] of them.
///
/// ```
/// use strata_application::{MAX_BATCH, check_batch_len};
/// assert!(check_batch_len(1).is_ok());
/// assert!(check_batch_len(MAX_BATCH).is_ok());
/// assert_eq!(check_batch_len(0).unwrap_err().len, 0);
/// assert!(check_batch_len(MAX_BATCH + 1).is_err());
/// ```
///
/// # Errors
/// [`BatchSizeError`] when `len` is 0 or over [`MAX_BATCH`].
pub fn check_batch_len(len: usize) -> Result<(), BatchSizeError> {
    if (1..=MAX_BATCH).contains(&len) {
        Ok(())
    } else {
        Err(BatchSizeError { len })
    }
}
