//! HTTPS on the listener: the rustls server configuration of
//! `[server] tls_cert_file` and `tls_key_file` (PEM), on the `ring`
//! crypto provider. Both files are read once, at start-up: a renewed
//! certificate takes effect at the next restart.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::ServerSettings;

/// The TLS configuration `server` asks for: `None` when neither file is
/// set. ALPN is left to actix-web's listener, which offers `h2` (its
/// `http2` feature) and then `http/1.1`.
///
/// # Errors
/// Only one of `tls_cert_file` and `tls_key_file` set; a file that cannot
/// be read or holds no PEM certificate (or private key); or a key that
/// does not match the certificate. Each message names the setting and the
/// file, never the key's bytes.
pub(crate) fn server_config(server: &ServerSettings) -> anyhow::Result<Option<ServerConfig>> {
    let (cert_file, key_file) = match (&server.tls_cert_file, &server.tls_key_file) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        _ => anyhow::bail!(
            "[server] tls_cert_file and tls_key_file must be set together (both for HTTPS, \
             neither for plain HTTP)"
        ),
    };
    let chain = certificates(cert_file)?;
    let key = private_key(key_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("[server] TLS: no protocol version")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .with_context(|| {
            format!(
                "[server] tls_key_file {} does not fit tls_cert_file {}",
                key_file.display(),
                cert_file.display()
            )
        })?;
    Ok(Some(config))
}

/// The PEM certificates of `path`, in file order.
fn certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let at = || format!("[server] tls_cert_file {}", path.display());
    let chain = CertificateDer::pem_file_iter(path)
        .with_context(at)?
        .collect::<Result<Vec<_>, _>>()
        .with_context(at)?;
    if chain.is_empty() {
        anyhow::bail!("{}: no PEM certificate in the file", at());
    }
    Ok(chain)
}

/// The first PEM private key of `path`.
fn private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        // The error names the PEM problem (or I/O error), not the key.
        anyhow::anyhow!(
            "[server] tls_key_file {}: no usable PEM private key ({e})",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(cert: Option<&Path>, key: Option<&Path>) -> ServerSettings {
        ServerSettings {
            tls_cert_file: cert.map(Path::to_owned),
            tls_key_file: key.map(Path::to_owned),
            ..ServerSettings::default()
        }
    }

    #[test]
    fn neither_file_is_plain_http_and_one_alone_is_refused() {
        assert!(server_config(&server(None, None)).unwrap().is_none());
        let p = Path::new("/nonexistent.pem");
        for s in [server(Some(p), None), server(None, Some(p))] {
            let e = server_config(&s).unwrap_err().to_string();
            assert!(
                e.contains("tls_cert_file") && e.contains("tls_key_file"),
                "{e}"
            );
        }
    }

    #[test]
    fn missing_and_garbage_files_name_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate").unwrap();
        let missing = dir.path().join("missing.pem");
        for (cert, key, field) in [
            (&missing, &garbage, "tls_cert_file"),
            (&garbage, &garbage, "tls_cert_file"),
        ] {
            let e = format!(
                "{:#}",
                server_config(&server(Some(cert), Some(key))).unwrap_err()
            );
            assert!(e.contains(field), "{e}");
        }
    }
}
