//! [`S3Credentials`]: an access key, read from an AWS shared-credentials
//! file (`~/.aws/credentials` format), whose secret never prints.

use std::path::Path;

use secrecy::SecretString;

/// An access key pair (and an optional session token) to sign requests
/// with. `Debug` shows the key id only.
#[derive(Clone)]
pub struct S3Credentials {
    /// `aws_access_key_id`.
    pub access_key_id: String,
    /// `aws_secret_access_key`.
    pub secret_access_key: SecretString,
    /// `aws_session_token`, for temporary credentials.
    pub session_token: Option<SecretString>,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl S3Credentials {
    /// Reads the `[default]` profile of an AWS shared-credentials file
    /// (INI: `aws_access_key_id`, `aws_secret_access_key`, optional
    /// `aws_session_token`; `#` and `;` start comments).
    ///
    /// # Errors
    /// The file cannot be read, or the profile lacks a key; the message
    /// names the file and the missing key, never a secret.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn parse(text: &str) -> Result<Self, String> {
        let mut in_default = false;
        let (mut id, mut secret, mut token) = (None, None, None);
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                in_default = section.trim() == "default";
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            if !in_default {
                continue;
            }
            let value = value.trim().to_owned();
            match key.trim() {
                "aws_access_key_id" => id = Some(value),
                "aws_secret_access_key" => secret = Some(SecretString::from(value)),
                "aws_session_token" => token = Some(SecretString::from(value)),
                _ => {}
            }
        }
        Ok(Self {
            access_key_id: id.ok_or("the [default] profile has no aws_access_key_id")?,
            secret_access_key: secret
                .ok_or("the [default] profile has no aws_secret_access_key")?,
            session_token: token,
        })
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn reads_the_default_profile_and_never_prints_the_secret() {
        let c = S3Credentials::parse(
            "[other]\naws_access_key_id = NO\n# comment\n[default]\n\
             aws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = s3cr3t-value\n",
        )
        .unwrap();
        assert_eq!(c.access_key_id, "AKIDEXAMPLE");
        assert_eq!(c.secret_access_key.expose_secret(), "s3cr3t-value");
        assert!(c.session_token.is_none());
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let err = S3Credentials::parse("[default]\naws_access_key_id = A\n").unwrap_err();
        assert!(err.contains("aws_secret_access_key"), "{err}");
    }
}
