//! ODBC failures as heavytune's errors: the SQLSTATE decides the class (bad SQL exits 3, a
//! server or driver failure 4) and the message says what to do. Connection strings never go
//! into a message (the caller prints the redacted one).

use crate::error::Error;

/// The SQLSTATE and text of an ODBC error, when the driver or driver manager left a record.
pub(crate) fn diagnostics(e: &odbc_api::Error) -> Option<(String, String)> {
    match e {
        odbc_api::Error::Diagnostics { record, .. } => Some((record.state.as_str().to_owned(), message(record))),
        _ => None,
    }
}

fn message(record: &odbc_api::handles::Record) -> String {
    // The record's own text decoding (narrow or wide characters), without its prefix.
    let shown = record.to_string();
    let text = shown.split_once("Message: ").map(|(_, m)| m).unwrap_or(&shown);
    text.trim_end_matches('\0').trim().to_owned()
}

/// A failure to connect: which driver or data source, and how to get it.
pub(crate) fn connect_error(e: odbc_api::Error, driver: Option<&str>, dsn: Option<&str>) -> Error {
    let Some((state, text)) = diagnostics(&e) else {
        return Error::engine("odbc", format!("could not connect: {e}"));
    };
    let install = "install it (PostgreSQL on Debian: apt-get install odbc-postgresql; HeavyDB: the HEAVY.AI ODBC \
                   driver from heavy.ai) and register it in odbcinst.ini (`odbcinst -q -d` lists the drivers there; \
                   $ODBCSYSINI names another folder holding odbcinst.ini)";
    match state.as_str() {
        // Data source name not found and no default driver specified.
        "IM002" => match (driver, dsn) {
            (Some(d), _) => {
                Error::engine("odbc", format!("the ODBC driver {d:?} is not installed: {install} ({text})"))
            }
            (None, Some(n)) => Error::engine(
                "odbc",
                format!("no ODBC data source named {n:?} in odbc.ini (`odbcinst -q -s` lists them) ({text})"),
            ),
            (None, None) => Error::engine(
                "odbc",
                format!("the connection string names no driver: add Driver={{...}} or DSN=... ({text})"),
            ),
        },
        // unixODBC takes a Driver= name it does not find in odbcinst.ini for a library's path,
        // and then cannot open it: not installed.
        "01000" | "IM003" if text.contains("Can't open lib") => match driver {
            Some(d) if text.contains(&format!("Can't open lib '{d}'")) && !d.contains('/') => {
                Error::engine("odbc", format!("the ODBC driver {d:?} is not installed: {install} ({text})"))
            }
            _ => Error::engine(
                "odbc",
                format!(
                    "the ODBC driver {}could not be loaded: {install}; where odbcinst.ini's Driver= is a bare file \
                     name, heavytune looks for it in /usr/lib/<triplet>/odbc, /usr/lib/odbc, /usr/lib64 and \
                     /usr/lib: elsewhere, give the library's full path ({text})",
                    driver.map(|d| format!("{d:?} ")).unwrap_or_default()
                ),
            ),
        },
        s if s.starts_with("28") || text.contains("authentication failed") => Error::engine(
            "odbc",
            format!(
                "the server refused the login: {text} (check the user and the password in HEAVYTUNE_PASSWORD or the variable --password-env names)"
            ),
        ),
        s if s.starts_with("08") => Error::engine("odbc", format!("could not reach the server: {text}")),
        _ => Error::engine("odbc", format!("could not connect: {text} (SQLSTATE {state})")),
    }
}

/// A failure of a statement: bad SQL (SQLSTATE class 42) as input, a lost connection said as
/// such, anything else as the server's failure.
pub(crate) fn statement_error(e: &odbc_api::Error, what: &'static str) -> Error {
    match diagnostics(e) {
        Some((state, text)) if state.starts_with("42") => Error::Sql(format!("{text} (SQLSTATE {state})")),
        Some((state, text)) if lost(&state, &text) => {
            Error::engine(what, format!("the connection to the server was lost: {text} (SQLSTATE {state})"))
        }
        Some((state, text)) => Error::engine(what, format!("{text} (SQLSTATE {state})")),
        None => Error::engine(what, e.to_string()),
    }
}

/// Whether an error means the connection is gone (the server stopped or the network failed).
pub(crate) fn lost(state: &str, text: &str) -> bool {
    state.starts_with("08")
        || state == "57P01"
        || state == "57P02"
        || state == "57P03"
        || text.contains("server closed the connection")
        || text.contains("Could not send Query")
        || text.contains("connection")
            && (text.contains("closed") || text.contains("terminated") || text.contains("broken"))
}

/// An arrow-odbc failure while reading or writing batches.
pub(crate) fn arrow_odbc_error(e: &(dyn std::error::Error + 'static), what: &'static str) -> Error {
    // The innermost ODBC error, if any, decides as for a statement.
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(odbc) = c.downcast_ref::<odbc_api::Error>() {
            return statement_error(odbc, what);
        }
        cause = c.source();
    }
    Error::engine(what, crate::error::chain_text(e))
}
