//! Reading Redis replies as RESP2 and RESP3 send them: strings, sorted-set
//! scores and `(member, score)` pages. Knows no keys and no commands.

use redis::Value;
use strata_domain::DigestHash;

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

/// A sorted-set score (ms since the epoch) as RESP2 or RESP3 sends it.
fn score(v: &Value) -> Option<u64> {
    let f = match v {
        Value::Double(f) => *f,
        Value::Int(i) => *i as f64,
        other => text(other)?.parse::<f64>().ok()?,
    };
    // Scores are whole milliseconds written by this store.
    (f.is_finite() && f >= 0.0).then_some(f as u64)
}

/// `(member, score)` pairs from a flat `[m, s, m, s]` reply (RESP2, `ZSCAN`)
/// or nested `[[m, s], ...]` (RESP3 `ZRANGEBYSCORE .. WITHSCORES`);
/// members that are not a 64-hex hash are skipped (not Strata's).
pub(super) fn scored(items: &[Value]) -> Vec<(DigestHash, Option<u64>)> {
    let pair = |m: &Value, s: &Value| {
        let hash = DigestHash::parse(&text(m)?).ok()?;
        Some((hash, score(s)))
    };
    if items
        .iter()
        .all(|v| matches!(v, Value::Array(p) if p.len() == 2))
        && !items.is_empty()
    {
        return items
            .iter()
            .filter_map(|v| match v {
                Value::Array(p) => pair(&p[0], &p[1]),
                _ => None,
            })
            .collect();
    }
    items
        .chunks_exact(2)
        .filter_map(|c| pair(&c[0], &c[1]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scored_reads_flat_and_nested_replies() {
        let hex = DigestHash::EMPTY.to_string();
        let flat = vec![
            Value::BulkString(hex.clone().into_bytes()),
            Value::BulkString(b"42".to_vec()),
            Value::BulkString(b"not-a-hash".to_vec()),
            Value::BulkString(b"1".to_vec()),
        ];
        assert_eq!(scored(&flat), vec![(DigestHash::EMPTY, Some(42))]);
        let nested = vec![Value::Array(vec![
            Value::BulkString(hex.into_bytes()),
            Value::Double(7.0),
        ])];
        assert_eq!(scored(&nested), vec![(DigestHash::EMPTY, Some(7))]);
    }
}
