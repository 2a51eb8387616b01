//! Where a driver's library is. Distributions register drivers in odbcinst.ini by a bare file
//! name (Debian's odbc-postgresql: `Driver=psqlodbcw.so`, installed in
//! `/usr/lib/<triplet>/odbc/`) and their own unixODBC knows that folder; the driver manager
//! built into heavytune opens a bare name with dlopen, which does not look there. So for a
//! connection string naming a driver (`Driver={PostgreSQL Unicode}`), the registration is read
//! here and a bare library name is replaced by its full path when it is found in one of the
//! folders distributions put drivers in.

use std::path::{Path, PathBuf};

use super::connection_string::ConnectionString;

/// The odbcinst.ini files the driver manager reads, in its order: `$ODBCINSTINI` (a file),
/// `$ODBCSYSINI/odbcinst.ini`, else `/etc/odbcinst.ini`.
fn odbcinst_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(f) = std::env::var_os("ODBCINSTINI") {
        files.push(PathBuf::from(f));
    }
    match std::env::var_os("ODBCSYSINI") {
        Some(dir) => files.push(Path::new(&dir).join("odbcinst.ini")),
        None => files.push(PathBuf::from("/etc/odbcinst.ini")),
    }
    files
}

/// The value of `key` in `[section]` of an ini text (names compared without case).
pub(crate) fn ini_value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim().eq_ignore_ascii_case(section);
            continue;
        }
        if inside
            && let Some((k, v)) = line.split_once('=')
            && k.trim().eq_ignore_ascii_case(key)
        {
            return Some(v.trim().to_owned());
        }
    }
    None
}

/// Folders distributions install ODBC drivers in, most specific first.
fn driver_folders() -> Vec<PathBuf> {
    let mut folders = Vec::new();
    for base in ["/usr/lib", "/usr/local/lib"] {
        // Multiarch folders (/usr/lib/x86_64-linux-gnu/odbc, ...).
        if let Ok(entries) = std::fs::read_dir(base) {
            let mut triplets: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with("-linux-gnu")))
                .collect();
            triplets.sort();
            for t in triplets {
                folders.push(t.join("odbc"));
                folders.push(t);
            }
        }
    }
    for f in ["/usr/lib64/odbc", "/usr/lib/odbc", "/usr/local/lib/odbc", "/usr/lib64", "/usr/lib", "/usr/local/lib"] {
        folders.push(PathBuf::from(f));
    }
    folders
}

/// The full path of a driver library registered by a bare file name, if found.
fn locate(library: &str, folders: &[PathBuf]) -> Option<PathBuf> {
    folders.iter().map(|f| f.join(library)).find(|p| p.is_file())
}

/// Replaces `Driver={name}` by the full path of the library `name` is registered with, where
/// odbcinst.ini gives only a bare file name and the library is found; anything else is left
/// for the driver manager (which reports what it cannot open).
pub fn resolve(cs: &mut ConnectionString) {
    let Some(i) = cs.attributes.iter().position(|a| a.key.eq_ignore_ascii_case("driver")) else { return };
    let name = cs.attributes[i].value.clone();
    if name.contains('/') {
        return;
    }
    for file in odbcinst_files() {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let Some(library) = ini_value(&text, &name, "Driver") else { continue };
        if library.contains('/') {
            return;
        }
        if let Some(path) = locate(&library, &driver_folders()) {
            cs.attributes[i].value = path.to_string_lossy().into_owned();
            cs.attributes[i].braced = true;
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_sections_and_keys_ignore_case_and_comments() {
        let ini = "# c\n[PostgreSQL Unicode]\nDescription=x\nDriver = psqlodbcw.so\n\n[Other]\nDriver=/opt/o.so\n";
        assert_eq!(ini_value(ini, "postgresql unicode", "driver").as_deref(), Some("psqlodbcw.so"));
        assert_eq!(ini_value(ini, "Other", "Driver").as_deref(), Some("/opt/o.so"));
        assert_eq!(ini_value(ini, "Missing", "Driver"), None);
    }

    #[test]
    fn bare_library_names_are_found_in_driver_folders() {
        let dir = tempfile::tempdir().unwrap();
        let odbc = dir.path().join("odbc");
        std::fs::create_dir(&odbc).unwrap();
        std::fs::write(odbc.join("libx.so"), b"").unwrap();
        let folders = vec![dir.path().join("none"), odbc.clone()];
        assert_eq!(locate("libx.so", &folders), Some(odbc.join("libx.so")));
        assert_eq!(locate("liby.so", &folders), None);
    }
}
