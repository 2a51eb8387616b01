//! The embedded default engine: Apache DataFusion over a folder of Parquet files.
//!
//! Each table is a folder `<db>/<name>.<stamp>/` of Parquet parts (written in parallel);
//! `<db>/catalog.json` lists the tables, so every later process registers the same ones. An
//! ingest writes new folders and commits them all at once by renaming a new catalog into place.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Engine, QueryOutput, TableData, TableInfo};
use crate::error::{Error, Result};

const CATALOG: &str = "catalog.json";
const CATALOG_FORMAT: u32 = 1;

/// Rows per Parquet row group: the unit DataFusion scans in parallel.
const ROW_GROUP_ROWS: usize = 256 * 1024;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Catalog {
    format: u32,
    tables: BTreeMap<String, CatalogEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CatalogEntry {
    /// The table's folder (or file) under the database folder.
    file: String,
    rows: u64,
}

/// DataFusion with a persistent Parquet database folder.
pub struct Embedded {
    db: PathBuf,
    ctx: SessionContext,
    runtime: tokio::runtime::Runtime,
}

impl Embedded {
    /// Opens (without creating) the database folder and registers its tables.
    pub fn open(db: &Path) -> Result<Self> {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("heavytune-engine")
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        let config = SessionConfig::new().with_target_partitions(threads).with_information_schema(true);
        let engine = Embedded { db: db.to_path_buf(), ctx: SessionContext::new_with_config(config), runtime };
        for (name, entry) in engine.read_catalog()?.tables {
            engine.register(&name, &entry.file)?;
        }
        Ok(engine)
    }

    fn catalog_path(&self) -> PathBuf {
        self.db.join(CATALOG)
    }

    fn read_catalog(&self) -> Result<Catalog> {
        let path = self.catalog_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Catalog { format: CATALOG_FORMAT, ..Default::default() });
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let catalog: Catalog = serde_json::from_str(&text).map_err(|e| Error::Catalog {
            path: path.display().to_string(),
            message: format!("not a heavytune catalog: {e}"),
        })?;
        if catalog.format != CATALOG_FORMAT {
            return Err(Error::Catalog {
                path: path.display().to_string(),
                message: format!("format {} is not supported (expected {CATALOG_FORMAT})", catalog.format),
            });
        }
        Ok(catalog)
    }

    fn register(&self, name: &str, file: &str) -> Result<()> {
        // A trailing separator makes DataFusion read the folder's Parquet files as one table.
        let path = self.db.join(file);
        let path = path.to_str().ok_or_else(|| Error::invalid("--db", format!("{} is not UTF-8", path.display())))?;
        let path = if Path::new(path).is_dir() { format!("{path}/") } else { path.to_owned() };
        self.ctx.deregister_table(name)?;
        self.runtime.block_on(self.ctx.register_parquet(name, &path, ParquetReadOptions::default()))?;
        Ok(())
    }
}

/// Parquet settings for our tables: no dictionary for float columns (their values rarely
/// repeat, so the attempt only costs time), chunk-level statistics only.
fn writer_properties(table: &TableData) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Chunk);
    for field in table.schema.fields() {
        if matches!(field.data_type(), DataType::Float64 | DataType::Float32) {
            props = props.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    props.build()
}

fn write_parquet(path: &Path, table: &TableData, batches: &[RecordBatch]) -> Result<u64> {
    let file = fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut writer = ArrowWriter::try_new(
        std::io::BufWriter::with_capacity(1 << 20, file),
        Arc::clone(&table.schema),
        Some(writer_properties(table)),
    )?;
    let mut rows = 0u64;
    for batch in batches {
        writer.write(batch)?;
        rows += batch.num_rows() as u64;
    }
    writer.close()?;
    Ok(rows)
}

/// Table names are identifiers we also use as file names.
fn check_table_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("table name", format!("{name:?}: use letters, digits and '_', starting with a letter")))
    }
}

impl Engine for Embedded {
    fn name(&self) -> &'static str {
        "datafusion"
    }

    fn execute(&self, sql: &str) -> Result<QueryOutput> {
        self.runtime.block_on(async {
            let df = self.ctx.sql(sql).await?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await?;
            Ok(QueryOutput { schema, batches })
        })
    }

    fn ingest(&self, tables: Vec<TableData>) -> Result<()> {
        for t in &tables {
            check_table_name(&t.name)?;
        }
        fs::create_dir_all(&self.db).map_err(|e| Error::io(&self.db, e))?;
        // Each ingest writes new folders; the catalog's atomic rename is the commit point for
        // all tables at once, and only then are the folders it replaced removed.
        let stamp = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
        );
        let folders: Vec<String> = tables.iter().map(|t| format!("{}.{stamp}", t.name)).collect();
        let parts = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let jobs: Vec<(usize, usize, &[RecordBatch])> = tables
            .iter()
            .enumerate()
            .flat_map(|(ti, t)| {
                if t.batches.is_empty() {
                    // One empty part still records the schema, so the table can be registered.
                    return vec![(ti, 0, &t.batches[..])];
                }
                let per_part = t.batches.len().div_ceil(parts);
                t.batches.chunks(per_part).enumerate().map(move |(pi, b)| (ti, pi, b)).collect::<Vec<_>>()
            })
            .collect();
        let written: Result<Vec<(usize, u64)>> = folders
            .iter()
            .map(|f| fs::create_dir(self.db.join(f)).map_err(|e| Error::io(self.db.join(f), e)))
            .collect::<Result<Vec<()>>>()
            .and_then(|_| {
                jobs.par_iter()
                    .map(|(ti, pi, batches)| {
                        let path = self.db.join(&folders[*ti]).join(format!("part-{pi}.parquet"));
                        Ok((*ti, write_parquet(&path, &tables[*ti], batches)?))
                    })
                    .collect()
            });
        let committed = written.and_then(|written| {
            let mut catalog = self.read_catalog()?;
            let mut replaced = Vec::new();
            for (ti, t) in tables.iter().enumerate() {
                let rows = written.iter().filter(|(i, _)| *i == ti).map(|(_, r)| r).sum();
                let entry = CatalogEntry { file: folders[ti].clone(), rows };
                replaced.extend(catalog.tables.insert(t.name.clone(), entry).map(|old| old.file));
            }
            catalog.format = CATALOG_FORMAT;
            let catalog_tmp = self.db.join(format!(".{CATALOG}.tmp-{stamp}"));
            let text = serde_json::to_string_pretty(&catalog).expect("catalog serializes");
            fs::write(&catalog_tmp, text).map_err(|e| Error::io(&catalog_tmp, e))?;
            fs::rename(&catalog_tmp, self.catalog_path()).map_err(|e| Error::io(self.catalog_path(), e))?;
            Ok(replaced)
        });
        let replaced = match committed {
            Ok(r) => r,
            Err(e) => {
                for f in &folders {
                    let _ = fs::remove_dir_all(self.db.join(f));
                }
                return Err(e);
            }
        };
        for (t, f) in tables.iter().zip(&folders) {
            self.register(&t.name, f)?;
        }
        for old in replaced {
            // A table file of an older layout, or a folder: either way it is no longer listed.
            let path = self.db.join(old);
            let _ = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        }
        Ok(())
    }

    fn explain(&self, sql: &str, analyze: bool) -> Result<String> {
        let out = self.runtime.block_on(async {
            let df = self.ctx.sql(sql).await?.explain(false, analyze)?;
            df.collect().await
        })?;
        let text = arrow::util::pretty::pretty_format_batches(&out)?;
        Ok(text.to_string())
    }

    fn register_memory(&self, table: TableData) -> Result<()> {
        // One partition per core, so scans of the table run in parallel.
        let parts = self.ctx.copied_config().target_partitions().max(1);
        let mut partitions = vec![Vec::new(); parts.min(table.batches.len()).max(1)];
        let n = partitions.len();
        for (i, b) in table.batches.into_iter().enumerate() {
            partitions[i % n].push(b);
        }
        let mem = datafusion::datasource::MemTable::try_new(table.schema, partitions)?;
        self.ctx.deregister_table(table.name.as_str())?;
        self.ctx.register_table(table.name.as_str(), Arc::new(mem))?;
        Ok(())
    }

    fn tables(&self) -> Result<Vec<TableInfo>> {
        Ok(self.read_catalog()?.tables.into_iter().map(|(name, e)| TableInfo { name, rows: e.rows }).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int32Array};
    use arrow::datatypes::{Field, Schema};
    use arrow::record_batch::RecordBatch;

    fn table(name: &str, n: i32) -> TableData {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("v", DataType::Float64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from_iter_values(0..n)),
                Arc::new(Float64Array::from_iter_values((0..n).map(|i| i as f64 * 0.5))),
            ],
        )
        .unwrap();
        TableData { name: name.into(), schema, batches: vec![batch] }
    }

    #[test]
    fn tables_persist_across_processes() {
        let dir = tempfile::tempdir().unwrap();
        Embedded::open(dir.path()).unwrap().ingest(vec![table("t", 10)]).unwrap();
        let reopened = Embedded::open(dir.path()).unwrap();
        let out = reopened.execute("SELECT count(*) AS n, sum(v) AS s FROM t").unwrap();
        let b = &out.batches[0];
        assert_eq!(b.column(0).as_any().downcast_ref::<arrow::array::Int64Array>().unwrap().value(0), 10);
        assert_eq!(b.column(1).as_any().downcast_ref::<Float64Array>().unwrap().value(0), 22.5);
        assert_eq!(reopened.tables().unwrap(), vec![TableInfo { name: "t".into(), rows: 10 }]);
    }

    #[test]
    fn reingest_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let e = Embedded::open(dir.path()).unwrap();
        e.ingest(vec![table("t", 10)]).unwrap();
        e.ingest(vec![table("t", 3)]).unwrap();
        assert_eq!(e.execute("SELECT * FROM t").unwrap().num_rows(), 3);
        let names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|d| d.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names.len(), 2, "catalog.json and one folder for t: {names:?}");
    }

    #[test]
    fn empty_tables_keep_their_schema() {
        let dir = tempfile::tempdir().unwrap();
        let e = Embedded::open(dir.path()).unwrap();
        let mut t = table("t", 1);
        t.batches.clear();
        e.ingest(vec![t]).unwrap();
        let out = Embedded::open(dir.path()).unwrap().execute("SELECT id, v FROM t").unwrap();
        assert_eq!((out.num_rows(), out.schema.fields().len()), (0, 2));
    }

    #[test]
    fn bad_table_names_and_sql_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = Embedded::open(dir.path()).unwrap();
        assert!(e.ingest(vec![table("../x", 1)]).is_err());
        assert!(e.execute("SELEC 1").is_err());
        assert!(e.explain("SELECT 1", false).unwrap().contains("plan"));
    }
}
