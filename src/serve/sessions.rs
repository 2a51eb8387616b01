//! Who is calling: logins answered with bearer tokens, one embedded engine session per token
//! (its session tables and open transactions are its own), tokens that expire.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::engine::{Embedded, Secret, Staged};
use crate::error::Result;
use crate::flight;

/// One client's session on the server.
pub(crate) struct Session {
    pub id: u64,
    pub engine: Embedded,
    expires: Option<Instant>,
    /// The last call: a login unused for [`IDLE`] is closed (a CLI command logs in once and
    /// never says goodbye).
    used: Mutex<Instant>,
    /// Ingests staged under each open transaction, published at its commit.
    pub transactions: Mutex<HashMap<Vec<u8>, Vec<Staged>>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.id).finish_non_exhaustive()
    }
}

/// How long a login may go unused before its session (and its session tables) is closed.
pub(crate) const IDLE: Duration = Duration::from_secs(30 * 60);

impl Session {
    fn alive(&self, now: Instant) -> bool {
        self.expires.is_none_or(|e| e > now) && now.duration_since(*self.used()) < IDLE
    }

    fn used(&self) -> std::sync::MutexGuard<'_, Instant> {
        self.used.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The user a server accepts, when it asks for one.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub user: String,
    pub password: Secret,
}

pub(crate) struct Sessions {
    db: Option<PathBuf>,
    threads: Option<usize>,
    credentials: Option<Credentials>,
    ttl: Duration,
    by_token: Mutex<HashMap<String, Arc<Session>>>,
    /// Calls without a token on a server without users share this one.
    anonymous: tokio::sync::OnceCell<Arc<Session>>,
    next_id: AtomicU64,
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorization(metadata: &MetadataMap) -> Option<&str> {
    metadata.get("authorization").and_then(|v| v.to_str().ok())
}

pub(crate) fn random_bytes<const N: usize>() -> std::result::Result<[u8; N], Status> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| Status::internal(format!("no random bytes for a token: {e}")))?;
    Ok(b)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Sessions {
    pub fn new(db: Option<PathBuf>, threads: Option<usize>, credentials: Option<Credentials>, ttl: Duration) -> Self {
        Sessions {
            db,
            threads,
            credentials,
            ttl,
            by_token: Mutex::default(),
            anonymous: tokio::sync::OnceCell::new(),
            next_id: AtomicU64::new(1),
        }
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.by_token.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn open(&self, expires: Option<Instant>) -> Result<Arc<Session>> {
        let engine = match &self.db {
            Some(db) => Embedded::open(db, self.threads).await?,
            None => Embedded::in_memory(self.threads),
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        Ok(Arc::new(Session { id, engine, expires, used: Mutex::new(Instant::now()), transactions: Mutex::default() }))
    }

    fn check_basic(&self, header: &str) -> std::result::Result<(), Status> {
        let Some(c) = &self.credentials else { return Ok(()) };
        match flight::parse_basic(header) {
            Some((user, password))
                if same(user.as_bytes(), c.user.as_bytes())
                    & same(password.as_bytes(), c.password.expose().as_bytes()) =>
            {
                Ok(())
            }
            Some(_) => Err(Status::unauthenticated("wrong user or password")),
            None => Err(Status::unauthenticated("the authorization header is not Basic base64(user:password)")),
        }
    }

    /// A login (Handshake): checks Basic credentials when the server has a user, opens a
    /// session and returns its bearer token.
    pub async fn login(&self, metadata: &MetadataMap) -> std::result::Result<String, Status> {
        match (authorization(metadata), &self.credentials) {
            (Some(h), _) if h.starts_with("Basic ") || h.starts_with("basic ") => self.check_basic(h)?,
            (_, Some(_)) => {
                return Err(Status::unauthenticated("this server requires a user and password (Basic credentials)"));
            }
            (_, None) => {}
        }
        let now = Instant::now();
        self.tokens().retain(|_, s| s.alive(now));
        let session =
            self.open(Some(now + self.ttl)).await.map_err(|e| Status::internal(format!("opening a session: {e}")))?;
        let token = hex(&random_bytes::<32>()?);
        self.tokens().insert(token.clone(), session);
        Ok(token)
    }

    /// The session of a call: its bearer token's; without one, the shared session of a server
    /// without users (or of a call that brings valid Basic credentials).
    pub async fn session(&self, metadata: &MetadataMap) -> std::result::Result<Arc<Session>, Status> {
        let session = match authorization(metadata) {
            Some(h) if h.starts_with("Bearer ") || h.starts_with("bearer ") => {
                let token = h[7..].trim();
                let found = self.tokens().get(token).cloned();
                let now = Instant::now();
                match found {
                    Some(s) if s.alive(now) => {
                        *s.used() = now;
                        s
                    }
                    Some(_) => {
                        self.tokens().remove(token);
                        return Err(Status::unauthenticated(
                            "the bearer token has expired (or went unused too long): log in again",
                        ));
                    }
                    None => return Err(Status::unauthenticated("unknown bearer token: log in again")),
                }
            }
            Some(h) if h.starts_with("Basic ") || h.starts_with("basic ") => {
                self.check_basic(h)?;
                self.shared().await?
            }
            Some(_) => return Err(Status::unauthenticated("the authorization header is neither Basic nor Bearer")),
            None if self.credentials.is_some() => {
                return Err(Status::unauthenticated("this server requires a login (Handshake with Basic credentials)"));
            }
            None => self.shared().await?,
        };
        // Another session (or process) may have changed the stored tables.
        session.engine.refresh().await.map_err(|e| Status::internal(format!("reading the catalog: {e}")))?;
        Ok(session)
    }

    async fn shared(&self) -> std::result::Result<Arc<Session>, Status> {
        self.anonymous
            .get_or_try_init(|| self.open(None))
            .await
            .cloned()
            .map_err(|e| Status::internal(format!("opening a session: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().unwrap());
        m
    }

    #[test]
    fn tokens_are_checked_and_expire() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let creds = Credentials { user: "ann".into(), password: Secret::new("pw") };
        let s = Sessions::new(None, Some(1), Some(creds), Duration::from_millis(200));
        rt.block_on(async {
            assert_eq!(
                s.login(&metadata(&flight::basic_header("ann", "no"))).await.unwrap_err().code(),
                tonic::Code::Unauthenticated
            );
            assert!(s.login(&MetadataMap::new()).await.is_err());
            let token = s.login(&metadata(&flight::basic_header("ann", "pw"))).await.unwrap();
            assert!(s.session(&metadata(&format!("Bearer {token}"))).await.is_ok());
            let forged = format!("Bearer {}", "0".repeat(64));
            assert!(s.session(&metadata(&forged)).await.unwrap_err().message().contains("unknown"));
            assert!(s.session(&MetadataMap::new()).await.is_err());
            tokio::time::sleep(Duration::from_millis(250)).await;
            let e = s.session(&metadata(&format!("Bearer {token}"))).await.unwrap_err();
            assert!(e.message().contains("expired"), "{e}");
        });
    }
}
