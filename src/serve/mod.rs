//! `heavytune serve`: an Arrow Flight SQL server over the embedded engine, so that any Flight
//! SQL client (Python ADBC, JDBC, another heavytune) can query and load a heavytune database.
//!
//! One embedded session per login ([`sessions`]); the calls in [`service`]. On shutdown the
//! server stops accepting, lets running calls finish for a grace period, then ends the
//! streams still running with an error; loads publish only through the catalog's atomic
//! rename, so the database folder stays consistent whatever is cut off.

mod service;
mod sessions;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::engine::Secret;
use crate::error::{Error, Result};
use crate::flight;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// The database folder; `None` serves session tables only.
    pub db: Option<PathBuf>,
    pub threads: Option<usize>,
    /// The user every client must log in as, and its password.
    pub user: Option<(String, Secret)>,
    /// PEM certificate chain and key: TLS on.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// How long a login's bearer token lasts.
    pub token_ttl: Duration,
    /// How long running calls may go on after a shutdown signal.
    pub grace: Duration,
}

/// Checks the options that can be checked before binding (so no port is taken for nothing).
pub fn check(options: &ServeOptions) -> Result<()> {
    if options.user.is_none() && !options.listen.ip().is_loopback() {
        return Err(Error::invalid(
            "--listen",
            format!(
                "{} is reachable from other machines: give --user (and its password in --password-env) to serve there, \
                 or listen on 127.0.0.1",
                options.listen
            ),
        ));
    }
    if let Some((cert, key)) = &options.tls {
        for (path, what) in [(cert, "--tls-cert"), (key, "--tls-key")] {
            std::fs::metadata(path).map_err(|e| Error::invalid(what, format!("{}: {e}", path.display())))?;
        }
    }
    if let Some((user, _)) = &options.user
        && (user.is_empty() || user.contains(':'))
    {
        return Err(Error::invalid("--user", "a user name must be non-empty and have no ':'"));
    }
    Ok(())
}

/// Serves until `shutdown` resolves, then winds down (see the module doc). `listening` is
/// called with the bound address (port 0 picks a free one) before the first client.
pub async fn serve(
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
    listening: impl FnOnce(SocketAddr),
) -> Result<()> {
    check(&options)?;
    let tls = match &options.tls {
        Some((cert, key)) => {
            let read = |p: &PathBuf, what: &'static str| {
                std::fs::read(p).map_err(|e| Error::invalid(what, format!("{}: {e}", p.display())))
            };
            let identity = Identity::from_pem(read(cert, "--tls-cert")?, read(key, "--tls-key")?);
            Some(ServerTlsConfig::new().identity(identity))
        }
        None => None,
    };
    if let Some(db) = &options.db {
        std::fs::create_dir_all(db).map_err(|e| Error::invalid("--db", format!("{}: {e}", db.display())))?;
    }
    let credentials = options.user.clone().map(|(user, password)| sessions::Credentials { user, password });
    let sessions = sessions::Sessions::new(options.db.clone(), options.threads, credentials, options.token_ttl);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let service = service::Service::new(sessions, stop_rx)?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| Error::invalid("--listen", format!("cannot listen on {}: {e}", options.listen)))?;
    let address = listener.local_addr().map_err(|e| Error::internal(format!("the bound address: {e}")))?;
    let mut builder = Server::builder()
        .tcp_nodelay(true)
        .initial_stream_window_size(16 << 20)
        .initial_connection_window_size(32 << 20)
        .max_frame_size(Some(flight::MAX_FRAME_BYTES))
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)));
    if let Some(tls) = tls {
        builder = builder.tls_config(tls).map_err(|e| Error::invalid("--tls-cert", format!("{e}")))?;
    }
    let svc = FlightServiceServer::new(service)
        .max_decoding_message_size(flight::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(flight::MAX_MESSAGE_BYTES);
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let grace = options.grace;
    // On the signal: stop accepting (tonic), let calls run for the grace period, then end the
    // streams still running; whatever still hangs a little after that is dropped.
    let on_signal = async move {
        shutdown.await;
        let _ = signalled_tx.send(());
    };
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let server = builder.add_service(svc).serve_with_incoming_shutdown(incoming, on_signal);
    listening(address);
    tokio::pin!(server);
    tokio::select! {
        done = &mut server => return done.map_err(stopped),
        _ = signalled_rx => {}
    }
    let finished = tokio::time::timeout(grace, &mut server).await;
    if let Ok(done) = finished {
        return done.map_err(stopped);
    }
    let _ = stop_tx.send(true);
    match tokio::time::timeout(Duration::from_secs(5), &mut server).await {
        Ok(done) => done.map_err(stopped),
        // Calls that ignore the end of their stream (a client that never reads): dropped.
        Err(_) => Ok(()),
    }
}

fn stopped(e: tonic::transport::Error) -> Error {
    Error::engine("serve", format!("the server stopped: {e}"))
}

/// Resolves on SIGINT or SIGTERM.
pub async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
