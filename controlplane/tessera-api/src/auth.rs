//! MAuth authentication of management requests (spec §2.2).

use std::time::Duration;

use axum::extract::FromRequestParts;
use http::request::Parts;
use tessera_auth::cipher;
use tessera_auth::mauth::{MauthError, MauthHeader};
use tessera_schema::ObjectId;
use tessera_schema::records::Service;

use crate::AppState;
use crate::error::ApiError;

/// The caller of an authenticated request.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The signing service.
    pub service: Service,
    /// Whether it is the super service.
    pub is_super: bool,
    /// `mauth_username`, decoded, when user and role were both signed.
    pub user: Option<String>,
    /// `mauth_role`, when user and role were both signed.
    pub role: Option<String>,
}

/// The plain-text key of a stored service.
pub fn service_key(
    service: &Service,
    cipher_key: &[u8; 32],
) -> Result<String, cipher::CipherError> {
    if service.encrypted {
        cipher::decrypt(cipher_key, &service.key)
    } else {
        Ok(service.key.clone())
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authenticate(parts, state).await {
            Ok(a) => Ok(a),
            Err(Failure::Store(e)) => Err(e.into()),
            Err(Failure::Auth(reason)) => {
                state.inner.metrics.auth_failure(reason);
                tracing::info!(target: "tessera::api", reason, path = %parts.uri.path(), "MAuth rejected");
                // OWT answers authentication failures after a random delay of up to a second.
                let max = state.inner.config.auth_failure_delay.as_millis() as u64;
                if max > 0 {
                    tokio::time::sleep(Duration::from_millis(rand::random_range(0..=max))).await;
                }
                Err(ApiError::unauthorized())
            }
        }
    }
}

enum Failure {
    Auth(&'static str),
    Store(tessera_store::StoreError),
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Authenticated, Failure> {
    let header = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .ok_or(Failure::Auth("missing_header"))?
        .to_str()
        .map_err(|_| Failure::Auth("malformed_header"))?;
    let h = MauthHeader::parse(header).map_err(|e| match e {
        MauthError::Missing(_) | MauthError::TooLong => Failure::Auth("malformed_header"),
        _ => Failure::Auth("malformed_header"),
    })?;
    let id: ObjectId = h
        .service_id
        .parse()
        .map_err(|_| Failure::Auth("unknown_service"))?;
    let service = state
        .inner
        .store
        .service(id)
        .await
        .map_err(Failure::Store)?
        .ok_or(Failure::Auth("unknown_service"))?;
    let key = service_key(&service, &state.inner.config.service_cipher_key).map_err(|e| {
        tracing::error!(target: "tessera::api", service = %service.id, error = %e, "cannot decrypt the service key (wrong cipher key?)");
        Failure::Auth("undecryptable_key")
    })?;
    h.verify(&key).map_err(|e| match e {
        MauthError::Method(_) => Failure::Auth("signature_method"),
        _ => Failure::Auth("bad_signature"),
    })?;
    let is_super = service.id == state.inner.config.super_service_id;
    let (user, role) = match h.user() {
        Some(u) => (Some(u), h.role.clone()),
        None => (None, None),
    };
    Ok(Authenticated {
        service,
        is_super,
        user,
        role,
    })
}
