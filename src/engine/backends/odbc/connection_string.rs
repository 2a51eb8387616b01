//! ODBC connection strings: `key=value` attributes separated by `;`, a value in braces (`{...}`,
//! a `}` inside doubled) when it holds `;`, `{`, `}` or spaces at its ends. Parsed here so that
//! a password is found (and never printed) whatever its spelling, a syntax error names its
//! column, and heavytune's own attributes (the password from the environment, the user) go in
//! quoted correctly.

use crate::error::{Error, Result};

/// One `key=value` attribute as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub key: String,
    /// The value, braces removed and `}}` undone.
    pub value: String,
    /// Whether the value was in braces.
    pub braced: bool,
}

/// A parsed connection string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionString {
    pub attributes: Vec<Attribute>,
}

/// Keys whose value is a password (compared without case).
const PASSWORD_KEYS: &[&str] = &["pwd", "password", "pass", "passwd"];
const USER_KEYS: &[&str] = &["uid", "user", "username", "user id"];

fn is_password_key(key: &str) -> bool {
    PASSWORD_KEYS.contains(&key.trim().to_ascii_lowercase().as_str())
}

impl ConnectionString {
    /// Parses `text`; a syntax error says what and at which (1-based) column.
    pub fn parse(text: &str) -> std::result::Result<ConnectionString, String> {
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let column = |i: usize| text[..chars.get(i).map(|c| c.0).unwrap_or(text.len())].chars().count() + 1;
        let mut attributes = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            // Skip separators and blanks between attributes.
            if chars[i].1 == ';' || chars[i].1.is_whitespace() {
                i += 1;
                continue;
            }
            let key_start = i;
            while i < chars.len() && chars[i].1 != '=' && chars[i].1 != ';' {
                if chars[i].1 == '{' || chars[i].1 == '}' {
                    return Err(format!("column {}: a brace in a key (expected KEY=VALUE)", column(i)));
                }
                i += 1;
            }
            if i >= chars.len() || chars[i].1 == ';' {
                let key: String = chars[key_start..i].iter().map(|c| c.1).collect();
                return Err(format!(
                    "column {}: {:?} has no '=' (expected KEY=VALUE pairs separated by ';')",
                    column(key_start),
                    key.trim()
                ));
            }
            let key: String = chars[key_start..i].iter().map(|c| c.1).collect::<String>().trim().to_owned();
            if key.is_empty() {
                return Err(format!("column {}: an attribute without a key", column(key_start)));
            }
            i += 1; // '='
            // Leading blanks before a braced value.
            let mut j = i;
            while j < chars.len() && chars[j].1 == ' ' {
                j += 1;
            }
            if j < chars.len() && chars[j].1 == '{' {
                let open = j;
                let mut value = String::new();
                j += 1;
                loop {
                    match chars.get(j).map(|c| c.1) {
                        None => {
                            return Err(format!(
                                "column {}: the brace opened here for {key} is never closed (write a '}}' inside a value as '}}}}')",
                                column(open)
                            ));
                        }
                        Some('}') if chars.get(j + 1).map(|c| c.1) == Some('}') => {
                            value.push('}');
                            j += 2;
                        }
                        Some('}') => {
                            j += 1;
                            break;
                        }
                        Some(c) => {
                            value.push(c);
                            j += 1;
                        }
                    }
                }
                while j < chars.len() && chars[j].1 == ' ' {
                    j += 1;
                }
                if j < chars.len() && chars[j].1 != ';' {
                    return Err(format!("column {}: text after the closing brace of {key} (expected ';')", column(j)));
                }
                attributes.push(Attribute { key, value, braced: true });
                i = j;
            } else {
                let start = i;
                while i < chars.len() && chars[i].1 != ';' {
                    if chars[i].1 == '{' || chars[i].1 == '}' {
                        return Err(format!(
                            "column {}: a brace inside the value of {key} (put the whole value in braces: {key}={{...}})",
                            column(i)
                        ));
                    }
                    i += 1;
                }
                let value: String = chars[start..i].iter().map(|c| c.1).collect::<String>().trim().to_owned();
                attributes.push(Attribute { key, value, braced: false });
            }
        }
        Ok(ConnectionString { attributes })
    }

    /// The value of `key` (any case; the first of several).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|a| a.key.eq_ignore_ascii_case(key)).map(|a| a.value.as_str())
    }

    pub fn has_password(&self) -> bool {
        self.attributes.iter().any(|a| is_password_key(&a.key))
    }

    pub fn has_user(&self) -> bool {
        self.attributes.iter().any(|a| USER_KEYS.contains(&a.key.to_ascii_lowercase().as_str()))
    }

    /// Appends an attribute (replacing none).
    pub fn push(&mut self, key: &str, value: &str) {
        self.attributes.push(Attribute { key: key.to_owned(), value: value.to_owned(), braced: needs_braces(value) });
    }

    /// The text for the driver manager, passwords included.
    pub fn to_driver_text(&self) -> String {
        self.render(false)
    }

    /// The text as it may be printed: every password value as `***`.
    pub fn redacted(&self) -> String {
        self.render(true)
    }

    fn render(&self, redact: bool) -> String {
        let mut out = String::new();
        for a in &self.attributes {
            out.push_str(&a.key);
            out.push('=');
            if redact && is_password_key(&a.key) {
                out.push_str("***");
            } else if a.braced || needs_braces(&a.value) {
                out.push('{');
                out.push_str(&a.value.replace('}', "}}"));
                out.push('}');
            } else {
                out.push_str(&a.value);
            }
            out.push(';');
        }
        out
    }
}

fn needs_braces(value: &str) -> bool {
    value.contains([';', '{', '}']) || value.starts_with(' ') || value.ends_with(' ')
}

/// An `odbc://` URL's rest as it may be printed: parsed, passwords as `***`; text that does not
/// parse keeps nothing after the first `=` of any attribute that could be a password.
pub fn redact(text: &str) -> String {
    match ConnectionString::parse(text) {
        Ok(cs) => cs.redacted(),
        Err(_) => {
            // Unparseable: keys only, and nothing at all after a password key (its value may
            // run on past any separator).
            let mut shown = Vec::new();
            for part in text.split(';') {
                match part.split_once('=') {
                    Some((k, _)) if is_password_key(k) => {
                        shown.push(format!("{}=***", k.trim()));
                        break;
                    }
                    Some((k, _)) => shown.push(format!("{}=...", k.trim())),
                    None => shown.push("...".to_owned()),
                }
            }
            shown.join(";")
        }
    }
}

/// HeavyDB's ODBC driver as its documentation names it ("Driver (HeavyaiDriver)", HeavyDB
/// docs, APIs and Interfaces > ODBC), and its default port (the docs' "myhost.heavyai.com:6274").
pub const HEAVYDB_DRIVER: &str = "HeavyaiDriver";
pub const HEAVYDB_PORT: u16 = 6274;

/// The connection string of `heavydb://USER@HOST[:PORT]/DB`, for HeavyDB's ODBC driver.
///
/// HeavyDB's documentation names the DSN's fields (User, Password, Host:Port, Database,
/// Protocol Type: HTTP, HTTPS, Binary or Binary Encrypted) only as labels of its Windows setup
/// dialog; the connection-string keys used here (HOST, PORT, DATABASE, UID, PWD, PROTOCOL)
/// are the ODBC convention and MapD-era examples, not confirmed by that documentation. Where
/// the driver wants other keys, pass the whole string with `odbc://`.
pub fn heavydb(rest: &str) -> Result<ConnectionString> {
    let bad = |message: String| Error::EngineUrl { url: format!("heavydb://{rest}"), message };
    let usage = "expected heavydb://USER@HOST[:PORT]/DATABASE (port 6274 by default; the password comes from HEAVYTUNE_PASSWORD)";
    let (authority, db) = rest.split_once('/').ok_or_else(|| bad(format!("the database is missing: {usage}")))?;
    let (user, hostport) = authority.rsplit_once('@').ok_or_else(|| bad(format!("the user is missing: {usage}")))?;
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad(format!("{p:?} is not a port number")))?),
        None => (hostport, HEAVYDB_PORT),
    };
    let db = db.trim_end_matches('/');
    if user.is_empty() || host.is_empty() || db.is_empty() || db.contains('/') {
        return Err(bad(usage.to_owned()));
    }
    let mut cs = ConnectionString::default();
    cs.push("Driver", HEAVYDB_DRIVER);
    cs.push("HOST", host);
    cs.push("PORT", &port.to_string());
    cs.push("DATABASE", db);
    cs.push("UID", user);
    cs.push("PROTOCOL", "binary");
    Ok(cs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_quote_separators_and_double_closing_braces() {
        let cs = ConnectionString::parse("Driver={PostgreSQL Unicode};Server=h; Port=5432;PWD={a;b}}c};").unwrap();
        assert_eq!(cs.get("driver"), Some("PostgreSQL Unicode"));
        assert_eq!(cs.get("PORT"), Some("5432"));
        assert_eq!(cs.get("pwd"), Some("a;b}c"));
        assert!(cs.has_password() && !cs.has_user());
        let shown = cs.redacted();
        assert!(!shown.contains("a;b") && !shown.contains("}c") && shown.contains("PWD=***;"), "{shown}");
        assert_eq!(ConnectionString::parse(&cs.to_driver_text()).unwrap(), cs);
    }

    #[test]
    fn syntax_errors_name_the_column() {
        let e = ConnectionString::parse("DSN=x;PWD={open").unwrap_err();
        assert!(e.contains("column 11") && e.contains("never closed"), "{e}");
        let e = ConnectionString::parse("DSN=x;Server").unwrap_err();
        assert!(e.contains("column 7") && e.contains("no '='"), "{e}");
        let e = ConnectionString::parse("DSN=x;PWD=a{b").unwrap_err();
        assert!(e.contains("column 12"), "{e}");
        let e = ConnectionString::parse("PWD={a}b;").unwrap_err();
        assert!(e.contains("after the closing brace"), "{e}");
        // Redaction of text that does not parse hides every value.
        let r = redact("DSN=x;PWD={open;secret");
        assert!(!r.contains("open") && !r.contains("secret"), "{r}");
    }

    #[test]
    fn pushed_values_are_braced_when_needed() {
        let mut cs = ConnectionString::parse("DSN=x").unwrap();
        cs.push("PWD", "p;w}d");
        assert_eq!(cs.to_driver_text(), "DSN=x;PWD={p;w}}d};");
        assert_eq!(ConnectionString::parse(&cs.to_driver_text()).unwrap().get("PWD"), Some("p;w}d"));
    }

    #[test]
    fn heavydb_shorthand() {
        let cs = heavydb("admin@db.example:6280/heavyai").unwrap();
        assert_eq!(
            cs.to_driver_text(),
            "Driver=HeavyaiDriver;HOST=db.example;PORT=6280;DATABASE=heavyai;UID=admin;PROTOCOL=binary;"
        );
        assert_eq!(heavydb("admin@h/heavyai").unwrap().get("port"), Some("6274"));
        for bad in ["h:1/db", "u@h:x/db", "u@h:1", "u@/db"] {
            assert!(heavydb(bad).is_err(), "{bad}");
        }
    }
}
