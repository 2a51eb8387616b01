//! The correlation product `Z Z^T` on the GPU through cuBLAS: the standardized rows go up
//! once; each block of rows comes back as rows x n correlations (one dgemm per block), so the
//! S x S result streams out in blocks and is never held whole, as the CPU's
//! [`Standardized::gram_block`] does. cuBLAS sums in its own order: values agree with the
//! CPU's to rounding (1e-12), not bit for bit.

use std::ops::Range;
use std::sync::Arc;

use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig};
use cudarc::driver::CudaSlice;

use super::{Gpu, GpuError};
use crate::corr::Standardized;

pub struct GpuCorr {
    gpu: Arc<Gpu>,
    blas: CudaBlas,
    z: CudaSlice<f64>,
    n: usize,
    d: usize,
}

impl std::fmt::Debug for GpuCorr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuCorr").field("gpu", &self.gpu).field("n", &self.n).field("d", &self.d).finish()
    }
}

fn blas_error(what: &'static str) -> impl FnOnce(cudarc::cublas::result::CublasError) -> GpuError {
    move |e| GpuError::Cublas { what, cause: format!("{e:?}") }
}

impl GpuCorr {
    /// Uploads the standardized rows.
    pub fn new(gpu: Arc<Gpu>, s: &Standardized) -> Result<GpuCorr, GpuError> {
        // SAFETY: only tries to load the library.
        if !unsafe { cudarc::cublas::sys::is_culib_present() } {
            return Err(GpuError::Cublas { what: "loading", cause: "libcublas.so.13 not found".into() });
        }
        let z = gpu.stream.clone_htod(&s.z).map_err(GpuError::driver("uploading standardized rows"))?;
        let blas = CudaBlas::new(gpu.stream.clone()).map_err(blas_error("starting"))?;
        Ok(GpuCorr { gpu, blas, z, n: s.n, d: s.d })
    }

    /// Rows `rows` times all rows: `out` gets rows.len() x n values, row by row.
    pub fn gram_block(&self, rows: Range<usize>, out: &mut [f64]) -> Result<(), GpuError> {
        let (n, d, m) = (self.n, self.d, rows.len());
        let wrong = |message: String| GpuError::Launch { kernel: "cublasDgemm", message };
        if out.len() != m * n || rows.end > n {
            return Err(wrong(format!("rows {rows:?} of {n} into {} values", out.len())));
        }
        if m == 0 || n == 0 {
            return Ok(());
        }
        if d == 0 {
            out.fill(0.0);
            return Ok(());
        }
        let int = |v: usize| i32::try_from(v).map_err(|_| wrong(format!("{v} over i32")));
        let s = &self.gpu.stream;
        let mut c = s.alloc_zeros::<f64>(m * n).map_err(GpuError::driver("allocating a block"))?;
        let block = self.z.slice(rows.start * d..rows.end * d);
        // Column-major view: Z (n x d, row-major) is Z^T (d x n, ld d). The row-major block
        // C (m x n) is C^T (n x m, ld n) = Z (op T of the stored d x n) times block^T (d x m).
        let cfg = GemmConfig {
            transa: cublasOperation_t::CUBLAS_OP_T,
            transb: cublasOperation_t::CUBLAS_OP_N,
            m: int(n)?,
            n: int(m)?,
            k: int(d)?,
            alpha: 1.0,
            lda: int(d)?,
            ldb: int(d)?,
            beta: 0.0,
            ldc: int(n)?,
        };
        // SAFETY: A is d x n with ld d (the whole upload), B d x m with ld d (a slice of it),
        // C n x m with ld n (m * n values, allocated above): every access is in bounds.
        unsafe { self.blas.gemm(cfg, &self.z, &block, &mut c) }.map_err(blas_error("dgemm"))?;
        s.memcpy_dtoh(&c, out).map_err(GpuError::driver("downloading a block"))?;
        s.synchronize().map_err(GpuError::driver("finishing a block"))?;
        Ok(())
    }
}
