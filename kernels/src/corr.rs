//! Pairwise correlation as a matrix product of standardized rows: corr(i, j) = z_i . z_j.
//!
//! Rows are processed in blocks (a block of rows times all rows through `matrixmultiply`'s
//! dgemm, blocks in parallel with rayon), so the full 25,544 x 25,544 request streams through a
//! consumer in blocks of a few MB instead of a 5.2 GB matrix.

use rayon::prelude::*;

/// Rows per block: 256 x 25,544 doubles = 52 MB at production size, two blocks per core.
pub const BLOCK_ROWS: usize = 256;

/// Standardized rows (n x d, row-major) and which rows are constant (their correlations are
/// undefined: NULL in SQL).
#[derive(Debug, Clone)]
pub struct Standardized {
    pub n: usize,
    pub d: usize,
    pub z: Vec<f64>,
    pub flat: Vec<bool>,
}

impl Standardized {
    /// Rows `rows` times all rows: `out` gets rows.len() x n values.
    pub fn gram_block(&self, rows: std::ops::Range<usize>, out: &mut [f64]) {
        let (n, d, m) = (self.n, self.d, rows.len());
        assert_eq!(out.len(), m * n, "output block size");
        if m == 0 || n == 0 {
            return;
        }
        if d == 0 {
            out.fill(0.0);
            return;
        }
        let a = &self.z[rows.start * d..rows.end * d];
        // SAFETY: a is m x d (row stride d), b = z^T is d x n read from z (row stride 1,
        // column stride d), out is m x n (row stride n); all lengths were checked above.
        unsafe {
            matrixmultiply::dgemm(
                m,
                d,
                n,
                1.0,
                a.as_ptr(),
                d as isize,
                1,
                self.z.as_ptr(),
                1,
                d as isize,
                0.0,
                out.as_mut_ptr(),
                n as isize,
                1,
            );
        }
    }

    /// Calls `consume(first_row, block)` for every block of rows (blocks in parallel).
    pub fn for_each_block(&self, consume: impl Fn(usize, &[f64]) + Sync) {
        let starts: Vec<usize> = (0..self.n).step_by(BLOCK_ROWS).collect();
        starts.par_iter().for_each(|&start| {
            let end = (start + BLOCK_ROWS).min(self.n);
            let mut block = vec![0.0; (end - start) * self.n];
            self.gram_block(start..end, &mut block);
            consume(start, &block);
        });
    }

    /// The whole n x n matrix (for candidate sets; the full request should stream).
    pub fn matrix(&self) -> Vec<f64> {
        let n = self.n;
        let mut out = vec![0.0; n * n];
        out.par_chunks_mut(BLOCK_ROWS * n.max(1)).enumerate().for_each(|(b, chunk)| {
            let start = b * BLOCK_ROWS;
            self.gram_block(start..start + chunk.len() / n.max(1), chunk);
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standardize::standardize;

    fn rows(n: usize, d: usize) -> Standardized {
        let mut z = vec![0.0; n * d];
        let mut flat = vec![false; n];
        for i in 0..n {
            let x: Vec<f64> = (0..d).map(|t| ((i * 7 + t * 13) % 11) as f64 - (i % 3) as f64 * t as f64).collect();
            flat[i] = standardize(&x, &mut z[i * d..(i + 1) * d]);
        }
        Standardized { n, d, z, flat }
    }

    #[test]
    fn matrix_is_the_dot_products() {
        let s = rows(300, 9);
        let m = s.matrix();
        for (i, j) in [(0, 0), (3, 7), (299, 1), (128, 255), (256, 299)] {
            let dot: f64 = (0..s.d).map(|t| s.z[i * s.d + t] * s.z[j * s.d + t]).sum();
            assert!((m[i * s.n + j] - dot).abs() < 1e-12, "({i}, {j})");
        }
        assert!((m[5 * s.n + 5] - 1.0).abs() < 1e-12 || s.flat[5]);
    }

    #[test]
    fn blocks_cover_every_row_once() {
        let s = rows(600, 5);
        let seen = std::sync::Mutex::new(vec![0u32; s.n]);
        s.for_each_block(|start, block| {
            let mut seen = seen.lock().unwrap();
            for r in 0..block.len() / s.n {
                seen[start + r] += 1;
            }
        });
        assert!(seen.into_inner().unwrap().iter().all(|&c| c == 1));
    }
}
