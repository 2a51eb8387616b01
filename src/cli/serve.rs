//! `heavytune serve`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use heavytune::engine::Secret;
use heavytune::serve::{self, ServeOptions};

use crate::Global;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one; the address is printed). Any address but
    /// a loopback one needs --user.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// Serve no database folder: clients have their session tables only (else the tables of
    /// --db).
    #[arg(long)]
    no_db: bool,
    /// How long a login lasts, in seconds (clients log in again after).
    #[arg(long, value_name = "SECONDS", default_value_t = 12.0 * 3600.0)]
    token_ttl: f64,
    /// After SIGINT or SIGTERM, how long running queries may finish before they are cancelled,
    /// in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    grace: f64,
    /// Print the listening address as JSON ({"listening": "HOST:PORT"}).
    #[arg(long)]
    json: bool,
}

fn seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    match Duration::try_from_secs_f64(value) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(crate::cli::usage(format!("{flag} must be a positive number of seconds, got {value}"))),
    }
}

pub fn cmd(global: &Global, args: ServeArgs) -> anyhow::Result<()> {
    if !matches!(global.engine.as_str(), "embedded" | "datafusion") {
        return Err(crate::cli::usage("serve serves the embedded engine; leave --engine out"));
    }
    if global.tls || global.tls_ca.is_some() {
        return Err(crate::cli::usage(
            "--tls and --tls-ca are for clients; a server turns TLS on with --tls-cert and --tls-key",
        ));
    }
    let user = match &global.user {
        Some(u) => {
            let password = Secret::from_env(&global.password_env)?.ok_or_else(|| {
                crate::cli::usage(format!(
                    "--user {u:?} needs a password: put it in the environment variable {} (see --password-env)",
                    global.password_env
                ))
            })?;
            Some((u.clone(), password))
        }
        None => None,
    };
    let options = ServeOptions {
        listen: args.listen,
        db: if args.no_db { None } else { Some(global.db.clone()) },
        threads: global.threads(),
        user,
        tls: global.tls_cert.clone().zip(global.tls_key.clone()),
        token_ttl: seconds(args.token_ttl, "--token-ttl")?,
        grace: seconds(args.grace, "--grace")?,
    };
    serve::check(&options)?;
    let rt = global.runtime()?;
    let quiet = global.quiet;
    let json = args.json;
    let tls = options.tls.is_some();
    let auth = options.user.is_some();
    rt.run(serve::serve(options, serve::signal(), move |address| {
        use std::io::Write;
        if json {
            println!("{}", serde_json::json!({ "listening": address.to_string(), "tls": tls, "auth": auth }));
        } else {
            println!("listening on {address}");
        }
        let _ = std::io::stdout().flush();
        if !quiet {
            eprintln!(
                "heavytune serve: Arrow Flight SQL on {}://{address}{}; SIGINT or SIGTERM stops it",
                if tls { "grpc+tls" } else { "grpc" },
                if auth { " (login required)" } else { "" }
            );
        }
    }))?;
    Ok(())
}
