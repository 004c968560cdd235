//! The manager's TLS files and token: a CA (`managercafile`) that signs the manager's
//! certificate (`managercertfile`, for `managercertdomain`, localhost and 127.0.0.1) with its
//! key (`managerkeyfile`, 0600), and the token clients present (`managertokenfile`, 0600).
//! Made when missing, kept when present, so clients that trust the CA keep working across
//! restarts.

use anyhow::{anyhow, Context, Result};
use std::path::Path;
use std::sync::Arc;

/// Writes `bytes` to `path` with `mode`, whole or not at all, making its directory.
pub fn write_private(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    store::write_file(path, bytes, mode).with_context(|| format!("writing {}", path.display()))
}

/// Makes the CA, certificate and key when any is missing.
/// `extra` names (addresses) go into the certificate too.
pub fn ensure_certs(
    ca: &Path,
    cert: &Path,
    key: &Path,
    domain: &str,
    extra: &[String],
) -> Result<bool> {
    if ca.exists() && cert.exists() && key.exists() {
        return Ok(false);
    }
    let err = |e: rcgen::Error| anyhow!("making the manager's certificates: {e}");
    let ca_key = rcgen::KeyPair::generate().map_err(err)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "wr-cloud manager CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let mut names = vec![domain.to_string()];
    for n in ["localhost", "127.0.0.1"]
        .into_iter()
        .chain(extra.iter().map(String::as_str))
    {
        if !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    }
    let server_key = rcgen::KeyPair::generate().map_err(err)?;
    let mut params = rcgen::CertificateParams::new(names).map_err(err)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, domain);
    let server_cert = params.signed_by(&server_key, &issuer).map_err(err)?;
    write_private(key, server_key.serialize_pem().as_bytes(), 0o600)?;
    write_private(cert, server_cert.pem().as_bytes(), 0o644)?;
    write_private(ca, ca_cert.pem().as_bytes(), 0o644)?;
    Ok(true)
}

/// The token, made when missing.
pub fn ensure_token(path: &Path) -> Result<String> {
    if let Ok(t) = std::fs::read_to_string(path) {
        if !t.trim().is_empty() {
            return Ok(t.trim().to_string());
        }
    }
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    write_private(path, token.as_bytes(), 0o600)?;
    Ok(token)
}

/// The token a client presents.
pub fn read_token(path: &Path) -> Result<String> {
    let t = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading the manager's token {} (is the manager started for this deployment?)",
            path.display()
        )
    })?;
    Ok(t.trim().to_string())
}

/// The server side: the certificate and key as rustls wants them.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow!("{}: {e}", cert.display()))?;
    let key_der =
        PrivateKeyDer::from_pem_file(key).map_err(|e| anyhow!("{}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| anyhow!("{}: {e}", cert.display()))?;
    Ok(Arc::new(config))
}
