use std::fmt;

/// A glob pattern over keys with Redis `SCAN MATCH` semantics
/// (`stringmatchlen` in Redis' `util.c`), so that every backend selects
/// the same keys:
///
/// - `*` matches any run of characters, `?` exactly one character;
/// - `[abc]`, `[a-z]` and `[^a]` match one character of (or not of) a set;
/// - `\` escapes the next character.
///
/// Matching is by Unicode scalar value. Patterns are 1 to 250 bytes long.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyPattern {
    source: String,
    tokens: Vec<Token>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Token {
    Literal(char),
    AnyOne,
    AnyRun,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Why a string is not a valid [`KeyPattern`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid key pattern: {reason}")]
pub struct InvalidPattern {
    /// Human-readable reason.
    pub reason: &'static str,
}

impl KeyPattern {
    /// Parses a glob pattern.
    ///
    /// # Errors
    /// [`InvalidPattern`] when the pattern is empty, longer than 250 bytes,
    /// has an unterminated `[` class or ends in a lone `\`.
    ///
    /// ```
    /// use strata_domain::KeyPattern;
    /// let p = KeyPattern::parse("user:*:profile").unwrap();
    /// assert!(p.matches("user:42:profile"));
    /// assert!(!p.matches("user:42:cart"));
    /// ```
    pub fn parse(s: &str) -> Result<Self, InvalidPattern> {
        if s.is_empty() {
            return Err(InvalidPattern {
                reason: "must not be empty",
            });
        }
        if s.len() > crate::MAX_KEY_BYTES {
            return Err(InvalidPattern {
                reason: "longer than 250 bytes",
            });
        }
        let mut tokens = Vec::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            let token = match c {
                '*' => {
                    if tokens.last() == Some(&Token::AnyRun) {
                        continue;
                    }
                    Token::AnyRun
                }
                '?' => Token::AnyOne,
                '\\' => Token::Literal(chars.next().ok_or(InvalidPattern {
                    reason: "ends with a lone backslash",
                })?),
                '[' => {
                    let negated = chars.next_if_eq(&'^').is_some();
                    let mut ranges = Vec::new();
                    loop {
                        let lo = match chars.next() {
                            None => {
                                return Err(InvalidPattern {
                                    reason: "unterminated [ class",
                                });
                            }
                            Some(']') if !ranges.is_empty() => break,
                            Some('\\') => chars.next().ok_or(InvalidPattern {
                                reason: "ends with a lone backslash",
                            })?,
                            Some(c) => c,
                        };
                        if chars.peek() == Some(&'-') {
                            let mut ahead = chars.clone();
                            ahead.next();
                            match ahead.next() {
                                Some(']') | None => ranges.push((lo, lo)),
                                Some(hi) => {
                                    chars = ahead;
                                    ranges.push(if lo <= hi { (lo, hi) } else { (hi, lo) });
                                }
                            }
                        } else {
                            ranges.push((lo, lo));
                        }
                    }
                    Token::Class { negated, ranges }
                }
                c => Token::Literal(c),
            };
            tokens.push(token);
        }
        Ok(Self {
            source: s.to_owned(),
            tokens,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `key` matches the whole pattern.
    pub fn matches(&self, key: &str) -> bool {
        let text: Vec<char> = key.chars().collect();
        // Iterative glob matching with single-star backtracking: O(n*m) worst case.
        let (mut t, mut p) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::AnyRun) => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                Some(tok) if Self::single(tok, text[t]) => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
            match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            }
        }
        self.tokens[p..].iter().all(|tok| *tok == Token::AnyRun)
    }

    /// The literal prefix before the first wildcard; backends can use it to
    /// narrow a scan.
    pub fn literal_prefix(&self) -> String {
        self.tokens
            .iter()
            .map_while(|t| match t {
                Token::Literal(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    fn single(token: &Token, c: char) -> bool {
        match token {
            Token::Literal(l) => *l == c,
            Token::AnyOne => true,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
            Token::AnyRun => false,
        }
    }
}

impl fmt::Debug for KeyPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPattern({:?})", self.source)
    }
}

impl fmt::Display for KeyPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(p: &str, k: &str) -> bool {
        KeyPattern::parse(p).unwrap().matches(k)
    }

    #[test]
    fn redis_glob_semantics() {
        assert!(m("*", "anything"));
        assert!(m("user:*", "user:"));
        assert!(m("user:*", "user:1:x"));
        assert!(!m("user:*", "users:1"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-c]llo", "hbllo"));
        assert!(m(r"a\*b", "a*b"));
        assert!(!m(r"a\*b", "axb"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*", "xxaxxcxxbxx"));
        assert!(m("ключ*", "ключ😀"));
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "a[bc", "a\\", &"*".repeat(251)] {
            assert!(KeyPattern::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(KeyPattern::parse("ab*c").unwrap().literal_prefix(), "ab");
    }

    proptest! {
        #[test]
        fn literal_patterns_match_only_themselves(k in "[a-z:0-9]{1,20}", other in "[a-z:0-9]{1,20}") {
            prop_assert!(m(&k, &k));
            prop_assert_eq!(m(&k, &other), k == other);
        }

        #[test]
        fn prefix_star_is_starts_with(prefix in "[a-z:]{0,8}", key in "[a-z:]{0,16}") {
            let p = format!("{prefix}*");
            prop_assert_eq!(m(&p, &key), key.starts_with(&prefix));
        }
    }
}
