//! Adaptive sampling: repeat until enough samples, enough time and a settled spread — or until
//! the time limit, saying which criterion was not met (nvbench's stopping rule, made explicit).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::stats::rel_stdev;

/// When to stop sampling a case.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Criteria {
    /// At least this many samples.
    pub min_samples: usize,
    /// At least this many seconds of samples (sum of sample times excluded; wall time of the loop).
    pub min_seconds: f64,
    /// Target relative spread: stdev/mean of the samples at or below this.
    pub max_rel_stdev: f64,
    /// Give up after this many seconds.
    pub max_seconds: f64,
}

/// Samples and the criteria not met.
pub struct Sampled {
    /// Seconds per sample.
    pub samples_s: Vec<f64>,
    /// Criteria not met when the time limit stopped sampling.
    pub unmet: Vec<String>,
}

/// Takes samples (each call of `sample` returns one, in seconds) until `c` is satisfied.
pub fn sample<E>(c: &Criteria, mut sample: impl FnMut() -> Result<f64, E>) -> Result<Sampled, E> {
    let start = Instant::now();
    let mut samples_s = Vec::new();
    loop {
        let elapsed = start.elapsed().as_secs_f64();
        let enough_samples = samples_s.len() >= c.min_samples;
        let enough_time = elapsed >= c.min_seconds;
        let spread = rel_stdev(&samples_s);
        let settled = spread <= c.max_rel_stdev;
        if enough_samples && enough_time && settled {
            return Ok(Sampled { samples_s, unmet: vec![] });
        }
        if elapsed >= c.max_seconds {
            let mut unmet = Vec::new();
            if !enough_samples {
                unmet.push(format!("min samples {} (got {})", c.min_samples, samples_s.len()));
            }
            if !enough_time {
                unmet.push(format!("min time {} s", c.min_seconds));
            }
            if !settled {
                unmet.push(format!("rel stdev {:.2}% > target {:.2}%", spread * 100.0, c.max_rel_stdev * 100.0));
            }
            return Ok(Sampled { samples_s, unmet });
        }
        samples_s.push(sample()?);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_samples_stop_at_the_minimum_count() {
        let c = Criteria { min_samples: 5, min_seconds: 0.0, max_rel_stdev: 0.01, max_seconds: 10.0 };
        let s = sample::<()>(&c, || Ok(1.0)).unwrap();
        assert_eq!(s.samples_s.len(), 5);
        assert!(s.unmet.is_empty());
    }

    #[test]
    fn a_spread_that_never_settles_is_reported_as_unmet() {
        let c = Criteria { min_samples: 2, min_seconds: 0.0, max_rel_stdev: 0.01, max_seconds: 0.05 };
        let mut i = 0.0;
        let s = sample::<()>(&c, || {
            i += 1.0;
            std::thread::sleep(std::time::Duration::from_millis(1));
            Ok(if (i as u64).is_multiple_of(2) { 1.0 } else { 3.0 })
        })
        .unwrap();
        assert!(s.unmet.iter().any(|u| u.starts_with("rel stdev")), "{:?}", s.unmet);
    }
}
