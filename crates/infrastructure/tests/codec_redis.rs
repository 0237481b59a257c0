//! `RedisStore` with a compressing and encrypting `ValueCodec`, checked on
//! the raw bytes a plain Redis client reads back.

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheStore, CacheValue, ContentType, EntryVersion,
    InvalidationCount, StoreError, Tag, Timestamp,
};
use strata_infrastructure::envelope_flags;
use strata_infrastructure::{Keyring, RedisConnection, RedisOptions, RedisStore, ValueCodec};
use strata_testkit::{RedisServer, require};

const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const K2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

/// The envelope fields this test looks at, as any MessagePack reader
/// sees them.
#[derive(Deserialize)]
struct RawEnvelope {
    v: u8,
    flags: u8,
    kid: Option<String>,
    #[serde(default, with = "serde_bytes")]
    nonce: Option<Vec<u8>>,
    #[serde(with = "serde_bytes")]
    payload: Vec<u8>,
    tags: Vec<String>,
}

fn codec(current: &str, keys: &[(&str, &str)]) -> ValueCodec {
    let keyring = Keyring::from_base64(keys.iter().copied()).unwrap();
    ValueCodec::new(Some(1024), Some((current.to_owned(), Arc::new(keyring)))).unwrap()
}

async fn store(connection: &RedisConnection, codec: ValueCodec) -> RedisStore {
    RedisStore::builder(connection.clone(), CacheName::parse("codec").unwrap())
        .codec(codec)
        .build()
}

/// 10 KiB of text that compresses well.
fn compressible() -> Vec<u8> {
    (0..)
        .flat_map(|i| format!("line {} of a very repetitive document\n", i % 7).into_bytes())
        .take(10 * 1024)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stores_compressed_ciphertext_and_reads_it_back() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let connection = RedisConnection::connect(&server.url(), RedisOptions::default())
        .await
        .expect("connect to redis");
    let plaintext = compressible();
    let entry = CacheEntry::new(
        CacheValue::new(Bytes::from(plaintext.clone()), ContentType::default()),
        Timestamp::from_millis(1_700_000_000_000),
        None,
        vec![Tag::parse("docs").unwrap()],
        EntryVersion::new(3),
    );
    let key = CacheKey::parse("doc").unwrap();
    let writer = store(&connection, codec("k1", &[("k1", K1)])).await;
    writer.insert(key.clone(), entry.clone()).await.unwrap();

    // The raw value, as any Redis client sees it.
    let client = redis::Client::open(server.url()).unwrap();
    let mut raw_conn = client.get_multiplexed_async_connection().await.unwrap();
    let raw: Vec<u8> = redis::cmd("GET")
        .arg("strata:{codec}:k:doc")
        .query_async(&mut raw_conn)
        .await
        .unwrap();
    let stored: RawEnvelope = rmp_serde::from_slice(&raw).unwrap();
    assert_eq!(stored.v, 1);
    assert_eq!(
        stored.flags,
        envelope_flags::ZSTD | envelope_flags::AES256GCM
    );
    assert_eq!(stored.kid.as_deref(), Some("k1"));
    assert_eq!(stored.nonce.map(|n| n.len()), Some(12));
    assert_eq!(stored.tags, ["docs"], "metadata stays readable");
    assert!(
        stored.payload.len() < plaintext.len() / 4,
        "stored payload of {} bytes for {} bytes of text",
        stored.payload.len(),
        plaintext.len()
    );
    assert!(
        !raw.windows(16).any(|w| w == &plaintext[..16]),
        "plaintext visible in the stored value"
    );

    // A store with the same key reads it, also after rotation to k2.
    let rotated = store(&connection, codec("k2", &[("k1", K1), ("k2", K2)])).await;
    assert_eq!(rotated.get(&key).await.unwrap(), Some(entry.clone()));
    assert_eq!(
        rotated.get_many(std::slice::from_ref(&key)).await.unwrap(),
        vec![Some(entry.clone())]
    );
    assert_eq!(rotated.entries().await.unwrap(), vec![(key.clone(), entry)]);

    // Without the key: a clear error, never the ciphertext as a value.
    let lacking = store(&connection, codec("k2", &[("k2", K2)])).await;
    let err = lacking.get(&key).await.unwrap_err();
    assert!(matches!(err, StoreError::Unexpected(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("key id `k1`, which is not in this store's keyring"),
        "{err}"
    );
    let unencrypted =
        RedisStore::builder(connection.clone(), CacheName::parse("codec").unwrap()).build();
    let err = unencrypted.get(&key).await.unwrap_err();
    assert!(
        err.to_string().contains("no encryption keyring configured"),
        "{err}"
    );

    // Tag invalidation decodes through the codec too.
    assert_eq!(
        rotated
            .invalidate_tags(&[Tag::parse("docs").unwrap()])
            .await
            .unwrap(),
        InvalidationCount::Exact(1)
    );
    assert_eq!(rotated.get(&key).await.unwrap(), None);
}
