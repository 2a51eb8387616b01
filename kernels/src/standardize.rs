//! Standardized columns: each strategy's P&L centred on its mean and scaled to unit norm, so
//! the Pearson correlation of two strategies is the dot product of their columns.
//!
//! The order of operations is the SQL template's (`sql/standardize.sql`): the mean is the sum
//! in day order divided by the day count, the norm the square root of the summed squared
//! deviations, each value its deviation divided by the norm. A column whose values are all
//! equal has zero variance, so its correlations are 0 (the legacy's NaN replaced by 0): that
//! is decided exactly, by comparing the values (SQL: `MIN(pnl) = MAX(pnl)`), never by a rounded
//! norm (a constant 0.1 series has a norm of rounding noise, not 0).

/// A column's mean and norm, in the order of operations of `sql/standardize.sql`, and whether
/// it is flat (all values equal, or a zero norm): its standardized values are then zeros.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    pub mean: f64,
    pub norm: f64,
    pub flat: bool,
}

impl Moments {
    pub fn of(x: &[f64]) -> Moments {
        let all_equal = x.iter().all(|&v| v == x[0]);
        let mut sum = 0.0;
        for &v in x {
            sum += v;
        }
        let mean = sum / x.len() as f64;
        let mut squares = 0.0;
        for &v in x {
            let c = v - mean;
            squares += c * c;
        }
        let norm = squares.sqrt();
        Moments { mean, norm, flat: all_equal || norm == 0.0 }
    }

    /// The standardized value of `v` (0 when the column is flat).
    #[inline]
    pub fn z(&self, v: f64) -> f64 {
        if self.flat { 0.0 } else { (v - self.mean) / self.norm }
    }
}

/// Standardizes `x` into `z`; returns whether the column is flat (all values equal, or a zero
/// norm), in which case `z` is all zeros.
pub fn standardize(x: &[f64], z: &mut [f64]) -> bool {
    assert_eq!(x.len(), z.len(), "one standardized value per value");
    let m = Moments::of(x);
    z.iter_mut().zip(x).for_each(|(zv, &v)| *zv = m.z(v));
    m.flat
}

/// |z|^2 of a standardized column, summed in day order (1 up to rounding, or 0 when flat).
pub fn squared_norm(z: &[f64]) -> f64 {
    let mut s = 0.0;
    for &v in z {
        s += v * v;
    }
    s
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
        assert!(!standardize(&a, &mut za));
        assert!((squared_norm(&za) - 1.0).abs() < 1e-12);
        standardize(&b, &mut zb);
        let dot: f64 = za.iter().zip(&zb).map(|(x, y)| x * y).sum();
        assert!((dot - pearson(&a, &b)).abs() < 1e-12);
    }

    #[test]
    fn constant_columns_are_zero_whatever_the_rounding() {
        let mut z = [9.0; 3];
        assert!(standardize(&[125.5; 3], &mut z));
        assert_eq!(z, [0.0; 3]);
        // 0.1 * 82 / 82 is not 0.1: the deviations are rounding noise, not a direction.
        let x = [0.1; 82];
        let mean = x.iter().sum::<f64>() / 82.0;
        assert_ne!(mean, 0.1, "the premise: the mean of a constant 0.1 series rounds away from 0.1");
        let mut z = [1.0; 82];
        assert!(standardize(&x, &mut z));
        assert!(z.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn one_day_is_flat() {
        let mut z = [5.0];
        assert!(standardize(&[3.0], &mut z));
        assert_eq!(z, [0.0]);
    }
}
