//! Batch fitness and swap moves on the GPU: the P&L rows, each strategy's constants (mean,
//! inverse norm, |z|^2, flat) and the balance labels go up once per run; per batch only member
//! indices go up and three doubles per candidate come down. The bytes moved each way are
//! counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaSlice, LaunchConfig};

use super::launch::Args;
use super::{Gpu, GpuError};
use crate::fitness::{Eval, Evaluator};
use crate::sources::{BATCH_FITNESS, SWAP_FITNESS};
use crate::swap::Incremental;

/// Threads per block: 4 warps, one candidate (or swap) each.
const BLOCK: u32 = 128;
const WARPS: u32 = BLOCK / 32;
/// Most candidates per launch; bigger batches are split (also when device memory is short).
const MAX_CHUNK: usize = 1 << 20;

/// Bytes moved between host and device, and evaluations done.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Traffic {
    /// Uploaded once: P&L rows, strategy constants, labels.
    pub setup_bytes_up: u64,
    /// Member indices, swap lists and portfolio sums, per batch.
    pub bytes_up: u64,
    /// Scores coming back.
    pub bytes_down: u64,
    pub evaluations: u64,
    /// Batches that failed on the GPU (at most 1: the first failure ends the GPU's part).
    pub failed_batches: u64,
}

impl Traffic {
    /// Bytes moved per evaluation, both ways, setup excluded.
    pub fn bytes_per_evaluation(&self) -> f64 {
        (self.bytes_up + self.bytes_down) as f64 / self.evaluations.max(1) as f64
    }
}

/// One evaluator's data on one GPU.
pub struct GpuFitness {
    gpu: Arc<Gpu>,
    rows: CudaSlice<f64>,
    consts: CudaSlice<f64>,
    labels: CudaSlice<u16>,
    desired: CudaSlice<i32>,
    n_desired: i32,
    balance_factor: f64,
    metric: i32,
    weight: f64,
    threshold: f64,
    n: usize,
    d: i32,
    setup_bytes: u64,
    up: AtomicU64,
    down: AtomicU64,
    evaluations: AtomicU64,
    failed: AtomicU64,
    /// The first GPU failure, for the run's report.
    first_error: Mutex<Option<GpuError>>,
    /// One batch at a time on the one stream.
    busy: Mutex<()>,
}

impl std::fmt::Debug for GpuFitness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuFitness").field("gpu", &self.gpu).field("traffic", &self.traffic()).finish_non_exhaustive()
    }
}

fn to_i32(v: usize, what: &'static str) -> Result<i32, GpuError> {
    i32::try_from(v)
        .map_err(|_| GpuError::Launch { kernel: "ht_batch_fitness", message: format!("{what} {v} over i32") })
}

impl GpuFitness {
    /// Uploads `ev`'s P&L rows, strategy constants and balance labels.
    pub fn new(gpu: Arc<Gpu>, ev: &Evaluator) -> Result<GpuFitness, GpuError> {
        let s = &gpu.stream;
        let rows = s.clone_htod(ev.values()).map_err(GpuError::driver("uploading the P&L rows"))?;
        let constants = ev.strategy_constants();
        let consts = s.clone_htod(&constants).map_err(GpuError::driver("uploading the strategy constants"))?;
        let (labels, desired, factor): (Vec<u16>, Vec<i32>, f64) = match ev.balance() {
            Some(b) => (
                b.labels.clone(),
                b.desired
                    .iter()
                    .flat_map(|&(l, c)| [i32::from(l), c.clamp(i32::MIN.into(), i32::MAX.into()) as i32])
                    .collect(),
                b.factor,
            ),
            None => (vec![0], vec![0, 0], 0.0),
        };
        let n_desired = if ev.balance().is_some() { desired.len() / 2 } else { 0 };
        let setup_bytes = (8 * (ev.values().len() + constants.len()) + 2 * labels.len() + 4 * desired.len()) as u64;
        let labels = s.clone_htod(&labels).map_err(GpuError::driver("uploading labels"))?;
        let desired = s.clone_htod(&desired).map_err(GpuError::driver("uploading labels"))?;
        Ok(GpuFitness {
            rows,
            consts,
            labels,
            desired,
            n_desired: to_i32(n_desired, "desired labels")?,
            balance_factor: factor,
            metric: ev.metric().id(),
            weight: ev.penalty().weight,
            threshold: ev.penalty().drawdown_threshold,
            n: ev.n_strategies(),
            d: to_i32(ev.n_days(), "days")?,
            setup_bytes,
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
            evaluations: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            first_error: Mutex::new(None),
            busy: Mutex::new(()),
            gpu,
        })
    }

    pub fn traffic(&self) -> Traffic {
        Traffic {
            setup_bytes_up: self.setup_bytes,
            bytes_up: self.up.load(Ordering::Relaxed),
            bytes_down: self.down.load(Ordering::Relaxed),
            evaluations: self.evaluations.load(Ordering::Relaxed),
            failed_batches: self.failed.load(Ordering::Relaxed),
        }
    }

    /// The first failure on the GPU, if any.
    pub fn first_error(&self) -> Option<GpuError> {
        self.first_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// Runs `f` alone on the stream. The first failure is kept and ends the GPU's part: every
    /// later call answers with it at once, so the caller's CPU path takes over for good.
    fn serialised<T>(&self, f: impl FnOnce() -> Result<T, GpuError>) -> Result<T, GpuError> {
        let _busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = self.first_error() {
            return Err(e);
        }
        let out = f();
        if let Err(e) = &out {
            self.failed.fetch_add(1, Ordering::Relaxed);
            self.first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| e.clone());
        }
        out
    }

    fn config(&self, items: usize) -> LaunchConfig {
        LaunchConfig {
            grid_dim: ((items as u32).div_ceil(WARPS), 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: WARPS * 2 * self.d as u32 * 8,
        }
    }

    /// Candidates per launch: MAX_CHUNK, fewer when free device memory is short.
    fn chunk(&self, k: usize) -> Result<usize, GpuError> {
        let per = (4 * k + 24) as u64;
        let free = self.gpu.free_memory()? as u64;
        Ok(MAX_CHUNK.min(((free / 2) / per.max(1)).max(1) as usize))
    }

    fn check(&self, members: &[u32]) -> Result<(), GpuError> {
        match members.iter().find(|&&m| m as usize >= self.n) {
            Some(m) => Err(GpuError::Launch {
                kernel: BATCH_FITNESS.name,
                message: format!("strategy {m} out of {} strategies", self.n),
            }),
            None => Ok(()),
        }
    }

    /// Scores portfolios of one size, in the CPU evaluator's bits.
    pub fn evaluate_batch(&self, portfolios: &[Vec<u32>]) -> Result<Vec<Eval>, GpuError> {
        self.serialised(|| self.batch(portfolios))
    }

    fn batch(&self, portfolios: &[Vec<u32>]) -> Result<Vec<Eval>, GpuError> {
        let Some(k) = portfolios.first().map(Vec::len) else { return Ok(Vec::new()) };
        if let Some(pf) = portfolios.iter().find(|p| p.len() != k) {
            return Err(GpuError::Launch {
                kernel: BATCH_FITNESS.name,
                message: format!("portfolios of sizes {k} and {} in one batch", pf.len()),
            });
        }
        let mut evals = Vec::with_capacity(portfolios.len());
        for chunk in portfolios.chunks(self.chunk(k)?) {
            let members: Vec<u32> = chunk.iter().flatten().copied().collect();
            self.check(&members)?;
            let s = &self.gpu.stream;
            let members_dev = s.clone_htod(&members).map_err(GpuError::driver("uploading members"))?;
            let mut out = s.alloc_zeros::<f64>(chunk.len() * 3).map_err(GpuError::driver("allocating scores"))?;
            let f = self.gpu.function(&BATCH_FITNESS)?;
            let (batch, kk) = (to_i32(chunk.len(), "batch")?, to_i32(k, "portfolio size")?);
            let mut args = Args::new(s, &f, &BATCH_FITNESS);
            args.buffer(&self.rows).buffer(&self.consts).int(&self.d).buffer(&members_dev).int(&batch).int(&kk);
            self.rule(&mut args).buffer_mut(&mut out).launch(self.config(chunk.len()))?;
            evals.extend(self.scores(&out, 4 * members.len())?);
        }
        Ok(evals)
    }

    /// Scores single-strategy swaps `(position, incoming strategy)` of `inc`, in the CPU's bits
    /// (as [`Incremental::try_swap`]).
    pub fn try_swaps(&self, inc: &Incremental, swaps: &[(usize, u32)]) -> Result<Vec<Eval>, GpuError> {
        self.serialised(|| self.swaps(inc, swaps))
    }

    fn swaps(&self, inc: &Incremental, swaps: &[(usize, u32)]) -> Result<Vec<Eval>, GpuError> {
        if swaps.is_empty() {
            return Ok(Vec::new());
        }
        let k = inc.members().len();
        if let Some((p, _)) = swaps.iter().find(|(p, _)| *p >= k) {
            return Err(GpuError::Launch {
                kernel: SWAP_FITNESS.name,
                message: format!("position {p} of {k} members"),
            });
        }
        let incoming: Vec<u32> = swaps.iter().map(|s| s.1).collect();
        self.check(&incoming)?;
        self.check(inc.members())?;
        let positions: Vec<i32> = swaps.iter().map(|s| s.0 as i32).collect();
        let s = &self.gpu.stream;
        let up = || GpuError::driver("uploading swaps");
        let sums = s.clone_htod(inc.sums()).map_err(up())?;
        let members = s.clone_htod(inc.members()).map_err(up())?;
        let positions_dev = s.clone_htod(&positions).map_err(up())?;
        let incoming_dev = s.clone_htod(&incoming).map_err(up())?;
        let mut out = s.alloc_zeros::<f64>(swaps.len() * 3).map_err(GpuError::driver("allocating scores"))?;
        let f = self.gpu.function(&SWAP_FITNESS)?;
        let (kk, count, base_zz) =
            (to_i32(k, "portfolio size")?, to_i32(swaps.len(), "swaps")?, inc.sum_squared_norms());
        let mut args = Args::new(s, &f, &SWAP_FITNESS);
        args.buffer(&self.rows)
            .buffer(&self.consts)
            .int(&self.d)
            .buffer(&sums)
            .real(&base_zz)
            .buffer(&members)
            .int(&kk);
        args.buffer(&positions_dev).buffer(&incoming_dev).int(&count);
        self.rule(&mut args).buffer_mut(&mut out).launch(self.config(swaps.len()))?;
        self.scores(&out, 8 * inc.sums().len() + 8 + 4 * (k + 2 * swaps.len()))
    }

    /// The scoring rule's arguments, the same run in both kernels' parameter lists.
    fn rule<'a, 'b>(&'a self, args: &'b mut Args<'a>) -> &'b mut Args<'a> {
        args.int(&self.metric)
            .real(&self.weight)
            .real(&self.threshold)
            .buffer(&self.labels)
            .buffer(&self.desired)
            .int(&self.n_desired)
            .real(&self.balance_factor)
    }

    /// Downloads three doubles per candidate as scores, counting `up` bytes sent for them.
    fn scores(&self, out: &CudaSlice<f64>, up: usize) -> Result<Vec<Eval>, GpuError> {
        let scores = self.gpu.stream.clone_dtoh(out).map_err(GpuError::driver("downloading scores"))?;
        self.count(up, scores.len() * 8, scores.len() / 3);
        Ok(scores.chunks_exact(3).map(|c| Eval { fitness: c[0], base_fitness: c[1], avg_corr: c[2] }).collect())
    }

    fn count(&self, up: usize, down: usize, evaluations: usize) {
        self.up.fetch_add(up as u64, Ordering::Relaxed);
        self.down.fetch_add(down as u64, Ordering::Relaxed);
        self.evaluations.fetch_add(evaluations as u64, Ordering::Relaxed);
    }
}
