//! asbackup's estimate (docs/asb-format.md#estimate): from the encoded sizes of sample records,
//! an upper bound on the record size and on the size of the whole backup.

/// The standard normal quantile of `1 - (1 - p) / k`: `sqrt(2) * erfinv(1 - 2(1 - p)/k)`.
pub fn z(p: f64, k: f64) -> f64 {
    std::f64::consts::SQRT_2 * erfinv(1.0 - 2.0 * (1.0 - p) / k)
}

/// Inverse error function: Giles' approximation refined by two Newton steps.
pub fn erfinv(y: f64) -> f64 {
    if y <= -1.0 {
        return f64::NEG_INFINITY;
    }
    if y >= 1.0 {
        return f64::INFINITY;
    }
    let mut w = -((1.0 - y) * (1.0 + y)).ln();
    let mut x = if w < 5.0 {
        w -= 2.5;
        let c = [
            2.81022636e-08,
            3.43273939e-07,
            -3.5233877e-06,
            -4.39150654e-06,
            0.00021858087,
            -0.00125372503,
            -0.00417768164,
            0.246640727,
            1.50140941,
        ];
        c.iter().fold(0.0, |p, &k| k + p * w) * y
    } else {
        w = w.sqrt() - 3.0;
        let c = [
            -0.000200214257,
            0.000100950558,
            0.00134934322,
            -0.00367342844,
            0.00573950773,
            -0.0076224613,
            0.00943887047,
            1.00167406,
            2.83297682,
        ];
        c.iter().fold(0.0, |p, &k| k + p * w) * y
    };
    for _ in 0..2 {
        let err = libm::erf(x) - y;
        x -= err / (std::f64::consts::FRAC_2_SQRT_PI * (-x * x).exp());
    }
    x
}

/// Sizes of sample records, and what the estimate says about them.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    n: u64,
    sum: f64,
    sum_sq: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// Upper bound on the (uncompressed) size of a record.
    pub record_size: u64,
    /// Upper bound on the size of a backup file of `records` records (99.9% confidence).
    pub total_size: u64,
}

impl Samples {
    pub fn add(&mut self, size: u64) {
        let s = size as f64;
        self.n += 1;
        self.sum += s;
        self.sum_sq += s * s;
    }

    pub fn count(&self) -> u64 {
        self.n
    }

    pub fn total(&self) -> u64 {
        self.sum as u64
    }

    fn mean(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum / self.n as f64
        }
    }

    /// Sample variance (divisor n - 1; 0 for one sample or none).
    fn variance(&self) -> f64 {
        if self.n <= 1 {
            return 0.0;
        }
        let n = self.n as f64;
        ((self.sum_sq - self.sum * self.sum / n) / (n - 1.0)).max(0.0)
    }

    /// asbackup's bounds for `records` records, with `ratio` the bytes written per byte encoded
    /// (1 without compression) and `header` the bytes before the first record.
    pub fn estimate(&self, records: u64, ratio: f64, header: u64) -> Estimate {
        let (mu, n) = (self.mean(), self.n.max(1) as f64);
        let se = (self.variance() / n).sqrt();
        let record_size = (mu + z(0.999999, 1.0) * se).ceil() as u64;
        let per = if records == 0 {
            0.0
        } else {
            ratio * mu + z(0.999, records as f64) * se
        };
        Estimate {
            record_size,
            total_size: header + (records as f64 * per).ceil() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values asbackup's own unit tests check.
    #[test]
    fn confidence_quantiles() {
        assert!((z(0.9, 1.0) - 1.281).abs() < 1e-3);
        assert!((z(0.99, 1.0) - 2.326).abs() < 1e-3);
        assert!((z(0.999, 1.0) - 3.090).abs() < 1e-3);
        assert!((z(0.999999, 1.0) - 4.753).abs() < 1e-3);
        for y in [-0.9, -0.1, 0.0, 0.3, 0.99, 0.999999] {
            assert!((libm::erf(erfinv(y)) - y).abs() < 1e-12, "{y}");
        }
    }

    #[test]
    fn bounds() {
        let mut s = Samples::default();
        for v in [100, 110, 90, 100] {
            s.add(v);
        }
        let e = s.estimate(1000, 1.0, 50);
        assert_eq!(
            e.record_size, 120,
            "100 + 4.753 * sqrt(66.7 / 4), rounded up"
        );
        assert!(
            e.total_size > 50 + 100_000 && e.total_size < 50 + 120_000,
            "{e:?}"
        );
        let c = s.estimate(1000, 0.5, 50);
        assert!(c.total_size < e.total_size);
        let mut one = Samples::default();
        one.add(42);
        assert_eq!(
            one.estimate(10, 1.0, 0),
            Estimate {
                record_size: 42,
                total_size: 420
            }
        );
    }
}
