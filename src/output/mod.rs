//! What heavytune writes for people and programs: query results as a table, JSON or CSV (here),
//! the run folder ([`run`]), its charts ([`plot`]) and Python-compatible number formatting
//! ([`pyfmt`]).

pub mod plot;
pub mod pyfmt;
pub mod run;

use std::io::Write;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use crate::engine::QueryOutput;
use crate::error::Result;

/// How `heavytune sql` prints a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    /// An array of row objects.
    Json,
    /// A header line, then one line per row.
    Csv,
}

/// Dictionary columns decoded to plain text, which every writer understands.
fn decode_dictionaries(out: &QueryOutput) -> Result<(Arc<Schema>, Vec<RecordBatch>)> {
    let plain = |t: &DataType| match t {
        DataType::Dictionary(_, v) => (**v).clone(),
        t => t.clone(),
    };
    let schema = Arc::new(Schema::new(
        out.schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), plain(f.data_type()), f.is_nullable()))
            .collect::<Vec<_>>(),
    ));
    let batches = out
        .batches
        .iter()
        .map(|b| {
            let cols = b
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| if c.data_type() == f.data_type() { Ok(Arc::clone(c)) } else { cast(c, f.data_type()) })
                .collect::<Result<Vec<ArrayRef>, _>>()?;
            Ok(RecordBatch::try_new(Arc::clone(&schema), cols)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((schema, batches))
}

/// Writes a file through a temporary name in the same folder, renamed into place on success,
/// so a failure never leaves a partial file. Returns the bytes written.
pub fn write_atomically(
    path: &std::path::Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<u64> {
    use crate::error::Error;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    let name =
        path.file_name().ok_or_else(|| Error::invalid("--out", format!("{} is not a file path", path.display())))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| -> Result<u64> {
        let file = std::fs::File::create(&tmp).map_err(|e| Error::write(&tmp, e))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        write(&mut w).map_err(|e| Error::write(&tmp, e))?;
        let file = w.into_inner().map_err(|e| Error::write(&tmp, e.into_error()))?;
        let bytes = file.metadata().map_err(|e| Error::write(&tmp, e))?.len();
        std::fs::rename(&tmp, path).map_err(|e| Error::write(path, e))?;
        Ok(bytes)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes a query result in the chosen format.
pub fn write(out: &QueryOutput, format: Format, w: &mut impl Write) -> Result<()> {
    let (schema, batches) = decode_dictionaries(out)?;
    match format {
        Format::Table => {
            let table = arrow::util::pretty::pretty_format_batches(&batches)?;
            writeln!(w, "{table}").map_err(|e| crate::error::Error::write("stdout", e))?;
            writeln!(w, "{} row(s)", out.num_rows()).map_err(|e| crate::error::Error::write("stdout", e))?;
        }
        Format::Json => {
            let mut writer = arrow::json::ArrayWriter::new(&mut *w);
            for b in &batches {
                writer.write(b)?;
            }
            writer.finish()?;
            writeln!(w).map_err(|e| crate::error::Error::write("stdout", e))?;
        }
        Format::Csv => {
            if batches.is_empty() {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                writeln!(w, "{}", names.join(",")).map_err(|e| crate::error::Error::write("stdout", e))?;
            }
            let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(&mut *w);
            for b in &batches {
                writer.write(b)?;
            }
        }
    }
    Ok(())
}
