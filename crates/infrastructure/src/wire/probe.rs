//! [`ZstdProbe`]: the [`CompressionProbe`] that compresses a value with
//! zstd at the level the value codec writes with, so the compression
//! recommendation reports what `compression = "zstd"` would save.

use strata_domain::CompressionProbe;

use super::codec::ZSTD_LEVEL;

/// See the module docs.
#[derive(Clone, Copy, Debug, Default)]
pub struct ZstdProbe;

impl CompressionProbe for ZstdProbe {
    fn compressed_len(&self, value: &[u8]) -> usize {
        // A value zstd cannot take (it never fails on bytes in memory)
        // counts as incompressible.
        zstd::bulk::compress(value, ZSTD_LEVEL).map_or(value.len(), |c| c.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_compresses_and_random_bytes_do_not() {
        let text = "{\"user\": 42, \"name\": \"Ada\"} ".repeat(100);
        assert!(ZstdProbe.compressed_len(text.as_bytes()) < text.len() / 5);
        let random: Vec<u8> = (0..4096).map(|_| rand::random::<u8>()).collect();
        assert!(ZstdProbe.compressed_len(&random) >= 4096);
    }
}
