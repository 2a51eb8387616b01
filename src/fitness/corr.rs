//! Standardized columns: the correlation penalty without a strategy-by-strategy matrix.
//!
//! With z_i the centred column scaled to unit norm (zero for a constant column), Pearson
//! corr(i, j) = z_i . z_j, so the sum over pairs i < j of a portfolio is
//! (|sum_i z_i|^2 - sum_i |z_i|^2) / 2: linear memory, O(days) per single-strategy swap.

/// Standardizes one column into `z`; returns |z|^2 (1, or 0 for a constant column).
pub fn standardize(x: &[f64], z: &mut [f64]) -> f64 {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let norm = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>().sqrt();
    if norm == 0.0 || !norm.is_finite() {
        // numpy gives NaN here and the legacy replaces it with 0.
        z.iter_mut().for_each(|v| *v = 0.0);
        return 0.0;
    }
    z.iter_mut().zip(x).for_each(|(zv, v)| *zv = (v - mean) / norm);
    z.iter().map(|v| v * v).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pearson(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    }

    #[test]
    fn dot_of_standardized_columns_is_pearson() {
        let a = [1.0, 4.0, -2.0, 3.5, 0.0];
        let b = [2.0, -1.0, 0.5, 3.0, 7.0];
        let (mut za, mut zb) = ([0.0; 5], [0.0; 5]);
        assert!((standardize(&a, &mut za) - 1.0).abs() < 1e-12);
        standardize(&b, &mut zb);
        let dot: f64 = za.iter().zip(&zb).map(|(x, y)| x * y).sum();
        assert!((dot - pearson(&a, &b)).abs() < 1e-12);
    }

    #[test]
    fn constant_column_is_zero() {
        let mut z = [9.0; 3];
        assert_eq!(standardize(&[125.5; 3], &mut z), 0.0);
        assert_eq!(z, [0.0; 3]);
    }
}
