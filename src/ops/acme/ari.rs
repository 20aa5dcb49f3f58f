//! RFC 9773 ACME Renewal Information: when the CA offers it, its suggested
//! window moves a certificate's renewal earlier (e.g. ahead of a mass
//! revocation). Asked in the background; an answer that does not come only
//! leaves `renew_before_days` in charge.

use std::time::{Duration, SystemTime};

use instant_acme::{Account, CertificateIdentifier, Error};
use pingora::tls::CertificateDer;
use rustls::pki_types::Der;
use x509_parser::extensions::ParsedExtension;

/// How often the renewal information is asked at most and at least,
/// whatever the CA's `Retry-After` says.
const MIN_POLL: Duration = Duration::from_secs(600);
const MAX_POLL: Duration = Duration::from_secs(86_400);

/// A time picked at random in the CA's suggested window for `leaf`, and
/// when to ask again; `Ok(None)` when the CA offers no renewal information.
pub async fn suggestion(
    account: &Account,
    leaf: &CertificateDer<'_>,
) -> Result<Option<(SystemTime, Duration)>, String> {
    let id = identifier(leaf)?;
    match account.renewal_info(&id).await {
        Ok((info, retry_after)) => {
            let time = |t: i64| SystemTime::UNIX_EPOCH + Duration::from_secs(t.max(0) as u64);
            let start = time(info.suggested_window.start.unix_timestamp());
            let end = time(info.suggested_window.end.unix_timestamp());
            let span = end.duration_since(start).unwrap_or_default();
            let at = start + span.mul_f64(fastrand::f64());
            Ok(Some((at, retry_after.clamp(MIN_POLL, MAX_POLL))))
        }
        Err(Error::Unsupported(_)) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// RFC 9773 4.1: the certificate's authority key identifier and serial.
fn identifier(leaf: &CertificateDer<'_>) -> Result<CertificateIdentifier<'static>, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let aki = cert
        .iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0)
            }
            _ => None,
        })
        .ok_or("the certificate has no authority key identifier")?;
    let serial = cert.tbs_certificate.raw_serial();
    Ok(CertificateIdentifier::new(Der::from_slice(aki), Der::from_slice(serial)).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn the_identifier_is_the_authority_key_id_and_the_serial() {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(vec![7; 20]);
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let mut params = rcgen::CertificateParams::new(vec!["a.example.com".to_string()]).unwrap();
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[1, 2, 3]));
        let leaf = params
            .signed_by(&rcgen::KeyPair::generate().unwrap(), &issuer)
            .unwrap();
        let id = identifier(leaf.der()).unwrap();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        assert_eq!(id.authority_key_identifier, b64(&[7; 20]));
        assert_eq!(id.serial, b64(&[1, 2, 3]));
    }

    #[test]
    fn a_certificate_without_an_authority_key_id_has_no_identifier() {
        let generated = rcgen::generate_simple_self_signed(vec!["a.example.com".into()]).unwrap();
        assert!(identifier(generated.cert.der()).is_err());
    }
}
