//! `heavytune bench fetch`: how fast a whole table comes back from the engine as Arrow, and
//! at what cost: rows, Arrow bytes, MB/s, the bytes copied after the receive (engines over a
//! wire) and the process's peak memory.

use std::time::Instant;

use crate::ab::{Spread, machine};
use crate::engine::{Engine, Query};
use crate::error::{Error, Result};

/// The record `bench fetch` writes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FetchRecord {
    pub table: String,
    pub engine: String,
    pub machine: String,
    pub runs: u32,
    pub warmup: u32,
    pub rows: u64,
    /// Bytes of the Arrow buffers of one fetch (what a consumer holds).
    pub arrow_bytes: u64,
    pub seconds: Spread,
    pub times: Vec<f64>,
    /// `arrow_bytes` over the median time, in MB (10^6 bytes) a second.
    pub mb_per_second: f64,
    /// Message body bytes received per fetch (engines over a wire; `null` in process).
    pub wire_bytes_per_fetch: Option<u64>,
    /// Bytes copied after the receive while decoding, over every fetch (`null` in process).
    pub bytes_copied_after_receive: Option<u64>,
    /// This process's peak resident memory at the end (`getrusage`), in bytes.
    pub peak_rss_bytes: u64,
    pub finished: String,
}

/// Peak resident memory of this process, in bytes.
pub fn peak_rss_bytes() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0;
    if !ok {
        return 0;
    }
    // SAFETY: initialised by the successful call above (and zeroed before it).
    let usage = unsafe { usage.assume_init() };
    // Linux reports kilobytes.
    u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024
}

fn arrow_bytes(batch: &arrow::record_batch::RecordBatch) -> u64 {
    let mut total = 0u64;
    crate::engine::for_each_buffer(batch, |b| total += b.len() as u64);
    total
}

/// Fetches `SELECT * FROM table` `warmup` times unmeasured, then `runs` times measured; each
/// fetch holds all its batches before the clock stops (as a consumer would), then drops them.
pub async fn fetch(
    engine: &dyn Engine,
    table: &str,
    runs: u32,
    warmup: u32,
    tick: &(dyn Fn() + Sync),
) -> Result<FetchRecord> {
    let name = sqlparser::ast::Ident::with_quote('"', table);
    let sql = format!("SELECT * FROM {name}");
    if engine.schema(table).await?.is_none() {
        return Err(Error::engine("bench fetch", format!("no table named {table:?} (load one first)")));
    }
    let mut times = Vec::with_capacity(runs as usize);
    let (mut rows, mut bytes) = (0u64, 0u64);
    let wire_before = engine.wire_bytes();
    let mut wire_warm = wire_before;
    for i in 0..warmup + runs {
        if i == warmup {
            wire_warm = engine.wire_bytes();
        }
        let start = Instant::now();
        let out = engine.query(Query::Native(&sql)).await?.collect().await?;
        let seconds = start.elapsed().as_secs_f64();
        rows = out.num_rows() as u64;
        bytes = out.batches.iter().map(arrow_bytes).sum();
        drop(out);
        if i >= warmup {
            times.push(seconds);
        }
        tick();
    }
    let wire_after = engine.wire_bytes();
    let seconds = Spread::of(&times);
    let per_fetch = match (wire_warm, wire_after) {
        (Some((r0, _)), Some((r1, _))) if runs > 0 => Some((r1 - r0) / u64::from(runs)),
        _ => None,
    };
    let copied = match (wire_before, wire_after) {
        (Some((_, c0)), Some((_, c1))) => Some(c1 - c0),
        _ => None,
    };
    Ok(FetchRecord {
        table: table.to_owned(),
        engine: engine.describe(),
        machine: machine(),
        runs,
        warmup,
        rows,
        arrow_bytes: bytes,
        mb_per_second: bytes as f64 / seconds.median / 1e6,
        seconds,
        times,
        wire_bytes_per_fetch: per_fetch,
        bytes_copied_after_receive: copied,
        peak_rss_bytes: peak_rss_bytes(),
        finished: chrono::Local::now().format("%Y%m%d_%H%M%S").to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Blocking, Embedded, TableSource};
    use arrow::array::{Float64Array, Int32Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    #[test]
    fn a_fetch_counts_rows_and_bytes_of_the_table() {
        let rt = Blocking::new(Some(1)).unwrap();
        let engine = Embedded::in_memory(Some(1));
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("v", DataType::Float64, false),
        ]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int32Array::from(vec![1, 2, 3])), Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0]))],
        )
        .unwrap();
        rt.run(crate::engine::Engine::create_temporary(&engine, TableSource::from_batches("t", schema, vec![b])))
            .unwrap();
        let r = rt.run(fetch(&engine, "t", 2, 0, &|| {})).unwrap();
        assert_eq!((r.rows, r.times.len()), (3, 2));
        assert!(r.arrow_bytes >= 3 * 12, "{}", r.arrow_bytes);
        assert_eq!(r.bytes_copied_after_receive, None);
        assert!(r.peak_rss_bytes > 0);
        let e = rt.run(fetch(&engine, "missing", 1, 0, &|| {})).unwrap_err().to_string();
        assert!(e.contains("no table named"), "{e}");
    }
}
