//! `*` wildcards over environment variable names.

/// Whether `name` matches `pattern`, where `*` stands for any run of
/// characters (possibly empty) and every other character for itself
/// (case-sensitive, as environment variable names are on Unix).
///
/// ```
/// use strata_domain::tasks::wildcard_match;
/// assert!(wildcard_match("SSH_*", "SSH_AUTH_SOCK"));
/// assert!(wildcard_match("*PASSWORD*", "DB_PASSWORD_FILE"));
/// assert!(!wildcard_match("RUST*", "CARGO"));
/// ```
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_literals() {
        assert!(wildcard_match("PATH", "PATH"));
        assert!(!wildcard_match("PATH", "PATHX"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("*_TOKEN", "GITHUB_TOKEN"));
        assert!(!wildcard_match("*_TOKEN", "TOKEN"));
        assert!(wildcard_match("A*B*C", "AxxBxxC"));
        assert!(!wildcard_match("A*B*C", "AxxBxx"));
    }
}
