//! Rényi DP of the Poisson-subsampled Gaussian mechanism, and its conversion to (ε, δ).
//!
//! One step with sampling rate `q` and noise multiplier `σ` has, at order `α > 1`, Rényi
//! divergence `log(A_α) / (α − 1)` (Mironov, Talwar and Zhang 2019, "Rényi Differential Privacy
//! of the Sampled Gaussian Mechanism", arXiv:1908.10530), with
//!
//! - integer `α` (Sec. 3.2, exact): `A_α = Σ_{i=0}^{α} C(α, i) (1−q)^{α−i} q^i exp((i²−i) / (2σ²))`;
//! - fractional `α` (Sec. 3.3): `A_α = A_0 + A_1`, the integrals below and above
//!   `z_0 = σ² log(1/q − 1) + 1/2`, each a series whose terms use `erfc`. The series is summed
//!   with `|C(α, i)|` (for `i > α` the generalized binomial coefficient alternates in sign), which
//!   makes every term positive and the sum an upper bound on `A_α` — conservative (the tests find
//!   `A_α − 1` within 0.1 % above the defining integral), and the same series as the reference
//!   accountant. At small `α` with small `σ` and large `q` the absolute series diverges. It stops when both term sequences are decreasing and
//!   below `e^-30` of the total, or after [`MAX_FRACTIONAL_TERMS`] terms, when the order is given
//!   up (RDP +∞, so it never sets ε).
//!
//! Everything is summed in log space (`log(e^a + e^b)` by `log1p`), so orders up to 256 and
//! `σ` down to 0.5 neither overflow nor lose the small terms. `q = 1` is the plain Gaussian
//! mechanism, `α / (2σ²)`; `q = 0` releases nothing, RDP 0.
//!
//! Steps compose by adding RDP order by order. The conversion to ε at a fixed δ is the improved
//! bound of Canonne, Kamath and Steinke 2020 (arXiv:2004.00010, Prop. 12) and Asoodeh et al.
//! (arXiv:2001.05990, Eq. 20), as in Google's `dp-accounting`:
//! `ε = min_α [ rdp(α) + log((α−1)/α) − (log δ + log α) / (α − 1) ]`, clamped at 0, with the
//! same special cases as that library (see [`epsilon_from_rdp`]).

use super::DpError;

/// Terms after which a fractional order's series is given up.
pub const MAX_FRACTIONAL_TERMS: usize = 1000;

/// Number of orders in [`DEFAULT_ORDERS`].
pub const DEFAULT_ORDER_COUNT: usize = 93;

/// The orders the accountant tracks by default: 1.25 to 8 in steps of 0.25, every integer from 9
/// to 64, then 72, 80, 96, 112, 128, 160, 192, 224 and 256.
///
/// Dense near 1 because large ε (little noise, many rounds) is minimised at orders close to 1;
/// up to 256 because small ε (much noise, small `q`) is minimised at high orders. Every value is
/// exact in binary, so the reference script receives the very same orders.
pub const DEFAULT_ORDERS: [f64; DEFAULT_ORDER_COUNT] = default_orders();

const fn default_orders() -> [f64; DEFAULT_ORDER_COUNT] {
    let mut orders = [0.0; DEFAULT_ORDER_COUNT];
    let mut at = 0;
    while at < 28 {
        orders[at] = 1.25 + 0.25 * at as f64;
        at += 1;
    }
    let mut integer = 9;
    while integer <= 64 {
        orders[at] = integer as f64;
        at += 1;
        integer += 1;
    }
    let tail = [72.0, 80.0, 96.0, 112.0, 128.0, 160.0, 192.0, 224.0, 256.0];
    let mut t = 0;
    while t < tail.len() {
        orders[at] = tail[t];
        at += 1;
        t += 1;
    }
    orders
}

/// Checks a sampling rate: `0 ≤ q ≤ 1`.
pub fn check_sampling_rate(q: f64) -> Result<(), DpError> {
    if (0.0..=1.0).contains(&q) {
        Ok(())
    } else {
        Err(DpError::InvalidParameter { what: "sampling_rate", value: q, reason: "must lie in [0, 1]" })
    }
}

/// Checks a noise multiplier: finite and `σ ≥ 0` (0 means no noise and infinite RDP).
pub fn check_noise_multiplier(sigma: f64) -> Result<(), DpError> {
    if sigma.is_finite() && sigma >= 0.0 {
        Ok(())
    } else {
        Err(DpError::InvalidParameter { what: "noise_multiplier", value: sigma, reason: "must be finite and ≥ 0" })
    }
}

/// Checks an order: finite and above 1.
pub fn check_order(order: f64) -> Result<(), DpError> {
    if order.is_finite() && order > 1.0 {
        Ok(())
    } else {
        Err(DpError::InvalidParameter { what: "order", value: order, reason: "must be finite and above 1" })
    }
}

/// Checks δ: `0 < δ < 1` (δ = 0 would need pure DP, which the Gaussian mechanism never gives).
pub fn check_delta(delta: f64) -> Result<(), DpError> {
    if delta > 0.0 && delta < 1.0 {
        Ok(())
    } else {
        Err(DpError::InvalidParameter { what: "delta", value: delta, reason: "must lie in (0, 1)" })
    }
}

/// RDP at `order` of one step of the Poisson-subsampled Gaussian mechanism (may be +∞).
pub fn sampled_gaussian_rdp(sampling_rate: f64, noise_multiplier: f64, order: f64) -> Result<f64, DpError> {
    check_sampling_rate(sampling_rate)?;
    check_noise_multiplier(noise_multiplier)?;
    check_order(order)?;
    Ok(rdp_unchecked(sampling_rate, noise_multiplier, order))
}

fn rdp_unchecked(q: f64, sigma: f64, order: f64) -> f64 {
    if q == 0.0 {
        return 0.0;
    }
    if sigma == 0.0 {
        return f64::INFINITY;
    }
    if q == 1.0 {
        return order / (2.0 * sigma * sigma);
    }
    let log_a = if order.fract() == 0.0 { log_a_integer(q, sigma, order) } else { log_a_fractional(q, sigma, order) };
    log_a / (order - 1.0)
}

/// `log(e^x + e^y)` without overflow.
fn log_add(x: f64, y: f64) -> f64 {
    let (low, high) = if x < y { (x, y) } else { (y, x) };
    if low == f64::NEG_INFINITY {
        return high;
    }
    (low - high).exp().ln_1p() + high
}

/// `log |C(n, k)|` for real `n` and integer `k ≥ 0`, through `log |Γ|`.
fn log_binomial(n: f64, k: f64) -> f64 {
    libm::lgamma(n + 1.0) - libm::lgamma(k + 1.0) - libm::lgamma(n - k + 1.0)
}

fn log_a_integer(q: f64, sigma: f64, alpha: f64) -> f64 {
    let (log_q, log_1mq) = (q.ln(), (-q).ln_1p());
    let two_var = 2.0 * sigma * sigma;
    let mut log_a = f64::NEG_INFINITY;
    let mut i = 0.0;
    while i <= alpha {
        let term = log_binomial(alpha, i) + i * log_q + (alpha - i) * log_1mq + (i * i - i) / two_var;
        log_a = log_add(log_a, term);
        i += 1.0;
    }
    log_a
}

fn log_a_fractional(q: f64, sigma: f64, alpha: f64) -> f64 {
    let (log_q, log_1mq) = (q.ln(), (-q).ln_1p());
    let two_var = 2.0 * sigma * sigma;
    let z0 = sigma * sigma * (1.0 / q - 1.0).ln() + 0.5;
    let scale = std::f64::consts::SQRT_2 * sigma;
    let log_half = 0.5f64.ln();
    let (mut log_a0, mut log_a1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let (mut last_s0, mut last_s1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for step in 0..MAX_FRACTIONAL_TERMS {
        let i = step as f64;
        let j = alpha - i;
        let log_coefficient = log_binomial(alpha, i);
        let log_t0 = log_coefficient + i * log_q + j * log_1mq;
        let log_t1 = log_coefficient + j * log_q + i * log_1mq;
        let log_e0 = log_half + log_erfc((i - z0) / scale);
        let log_e1 = log_half + log_erfc((z0 - j) / scale);
        let log_s0 = log_t0 + (i * i - i) / two_var + log_e0;
        let log_s1 = log_t1 + (j * j - j) / two_var + log_e1;
        log_a0 = log_add(log_a0, log_s0);
        log_a1 = log_add(log_a1, log_s1);
        let total = log_add(log_a0, log_a1);
        if log_s0 < last_s0 && log_s1 < last_s1 && log_s0.max(log_s1) < total - 30.0 {
            return total;
        }
        last_s0 = log_s0;
        last_s1 = log_s1;
    }
    f64::INFINITY
}

/// `log(erfc(x))`, accurate where `erfc` underflows: `libm`'s `erfc` (within an ulp or two)
/// below 26, where `erfc(26) ≈ 6e-296` is still a normal number; above, the asymptotic series
/// `erfc(x) ≈ exp(−x² − 1/(2x²) + 5/(8x⁴) − 37/(24x⁶) + 353/(64x⁸)) / (x √π)`, whose first
/// omitted term is below 1e-14 there.
pub fn log_erfc(x: f64) -> f64 {
    if x < 26.0 { libm::erfc(x).ln() } else { log_erfc_asymptotic(x) }
}

fn log_erfc_asymptotic(x: f64) -> f64 {
    let inv2 = 1.0 / (x * x);
    -0.5 * std::f64::consts::PI.ln() - x.ln() - x * x - 0.5 * inv2 + 0.625 * inv2 * inv2 - 37.0 / 24.0 * inv2.powi(3)
        + 353.0 / 64.0 * inv2.powi(4)
}

/// ε at `delta` and the order that gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpsilonAtOrder {
    /// The smallest ε over the orders (never negative; +∞ when no order gives a finite bound).
    pub epsilon: f64,
    /// The order it was found at.
    pub order: f64,
}

/// Converts RDP values (`rdp[k]` at `orders[k]`) to ε at `delta`, minimising over the orders.
///
/// Per order, as the reference does: negative RDP (numerical noise) gives 0; if
/// `δ² + expm1(−rdp) > 0` the KL bound `δ ≤ sqrt(1 − e^{−rdp})` already gives ε = 0; orders at
/// or below 1.01 give +∞ (the bound is unstable there); otherwise
/// `ε = rdp + log1p(−1/α) − log(δ α) / (α − 1)`. Ties keep the first order.
pub fn epsilon_from_rdp(orders: &[f64], rdp: &[f64], delta: f64) -> Result<EpsilonAtOrder, DpError> {
    check_delta(delta)?;
    if orders.len() != rdp.len() || orders.is_empty() {
        return Err(DpError::InvalidParameter {
            what: "rdp length",
            value: rdp.len() as f64,
            reason: "must equal the number of orders, at least one",
        });
    }
    let mut best = EpsilonAtOrder { epsilon: f64::INFINITY, order: orders[0] };
    for (&order, &value) in orders.iter().zip(rdp) {
        let epsilon = if value.is_nan() {
            f64::INFINITY
        } else if value < 0.0 || delta * delta + (-value).exp_m1() > 0.0 {
            0.0
        } else if order > 1.01 {
            value + (-1.0 / order).ln_1p() - (delta * order).ln() / (order - 1.0)
        } else {
            f64::INFINITY
        };
        if epsilon < best.epsilon {
            best = EpsilonAtOrder { epsilon, order };
        }
    }
    best.epsilon = best.epsilon.max(0.0);
    Ok(best)
}

/// Running RDP of a sequence of sampled-Gaussian steps, over a fixed set of orders.
#[derive(Debug, Clone, PartialEq)]
pub struct RdpAccountant {
    orders: Vec<f64>,
    rdp: Vec<f64>,
}

impl RdpAccountant {
    /// An accountant over `orders`, each finite and above 1, having spent nothing.
    pub fn new(orders: &[f64]) -> Result<Self, DpError> {
        if orders.is_empty() {
            return Err(DpError::InvalidParameter { what: "orders", value: 0.0, reason: "need at least one order" });
        }
        for &order in orders {
            check_order(order)?;
        }
        Ok(Self { orders: orders.to_vec(), rdp: vec![0.0; orders.len()] })
    }

    /// An accountant over [`DEFAULT_ORDERS`].
    pub fn with_default_orders() -> Self {
        Self { orders: DEFAULT_ORDERS.to_vec(), rdp: vec![0.0; DEFAULT_ORDER_COUNT] }
    }

    /// The orders tracked.
    pub fn orders(&self) -> &[f64] {
        &self.orders
    }

    /// RDP spent so far, per order.
    pub fn rdp(&self) -> &[f64] {
        &self.rdp
    }

    /// RDP per order of `steps` steps with `sampling_rate` and `noise_multiplier`, without
    /// adding it to the running total.
    pub fn steps_rdp(&self, sampling_rate: f64, noise_multiplier: f64, steps: u64) -> Result<Vec<f64>, DpError> {
        check_sampling_rate(sampling_rate)?;
        check_noise_multiplier(noise_multiplier)?;
        Ok(self
            .orders
            .iter()
            .map(|&order| {
                let one = rdp_unchecked(sampling_rate, noise_multiplier, order);
                // 0 steps spend nothing, even where one step's RDP is infinite.
                if steps == 0 { 0.0 } else { steps as f64 * one }
            })
            .collect())
    }

    /// Adds `steps` steps to the running total.
    pub fn compose(&mut self, sampling_rate: f64, noise_multiplier: f64, steps: u64) -> Result<(), DpError> {
        let added = self.steps_rdp(sampling_rate, noise_multiplier, steps)?;
        self.add_rdp(&added);
        Ok(())
    }

    pub(crate) fn add_rdp(&mut self, added: &[f64]) {
        for (total, more) in self.rdp.iter_mut().zip(added) {
            *total += more;
        }
    }

    /// ε at `delta` for everything composed so far.
    pub fn epsilon(&self, delta: f64) -> Result<EpsilonAtOrder, DpError> {
        epsilon_from_rdp(&self.orders, &self.rdp, delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_orders_run_from_1_25_to_256_and_include_every_integer_from_2_to_64() {
        assert_eq!(DEFAULT_ORDERS[0], 1.25);
        assert_eq!(DEFAULT_ORDERS[DEFAULT_ORDER_COUNT - 1], 256.0);
        assert!(DEFAULT_ORDERS.windows(2).all(|w| w[0] < w[1]));
        for integer in 2..=64 {
            assert!(DEFAULT_ORDERS.contains(&f64::from(integer)), "{integer}");
        }
    }

    #[test]
    fn full_sampling_is_the_plain_gaussian_mechanism() {
        assert_eq!(sampled_gaussian_rdp(1.0, 2.0, 8.0).unwrap(), 1.0);
    }

    #[test]
    fn integer_order_two_matches_its_closed_form() {
        // A_2 = (1−q)² + 2q(1−q) + q² e^{1/σ²} = 1 + q² (e^{1/σ²} − 1).
        let (q, sigma) = (0.01f64, 1.0f64);
        let expected = (q * q * ((1.0 / (sigma * sigma)).exp() - 1.0)).ln_1p();
        let got = sampled_gaussian_rdp(q, sigma, 2.0).unwrap();
        assert!((got - expected).abs() <= 1e-12 * expected, "{got} vs {expected}");
    }

    #[test]
    fn a_fractional_order_lies_between_its_integer_neighbours() {
        // RDP is non-decreasing in the order.
        for (q, sigma) in [(0.01, 1.0), (0.1, 0.8), (0.001, 5.0)] {
            let at = |order| sampled_gaussian_rdp(q, sigma, order).unwrap();
            assert!(at(2.0) <= at(2.5) && at(2.5) <= at(3.0), "q={q} σ={sigma}: {} {} {}", at(2.0), at(2.5), at(3.0));
        }
    }

    /// `log A_α = log ∫ μ₀(z) (1 − q + q μ₁(z)/μ₀(z))^α dz` (μ₀ = N(0, σ²), μ₁ = N(1, σ²)) by
    /// the trapezoid rule on a fine grid: the definition, independent of either series.
    fn log_a_by_quadrature(q: f64, sigma: f64, alpha: f64) -> f64 {
        let (low, high) = (-40.0 * sigma, alpha + 40.0 * sigma);
        let steps = 400_000;
        let width = (high - low) / steps as f64;
        let log_norm = (sigma * (2.0 * std::f64::consts::PI).sqrt()).ln();
        let integrand = |z: f64| {
            let ratio = ((2.0 * z - 1.0) / (2.0 * sigma * sigma)).exp();
            (alpha * (1.0 - q + q * ratio).ln() - z * z / (2.0 * sigma * sigma) - log_norm).exp()
        };
        let inner: f64 = (1..steps).map(|k| integrand(low + k as f64 * width)).sum();
        ((inner + 0.5 * (integrand(low) + integrand(high))) * width).ln()
    }

    #[test]
    fn both_series_match_the_integral_that_defines_a_alpha() {
        for (q, sigma, alpha) in
            [(0.01, 1.0, 3.0), (0.1, 2.0, 8.0), (0.001, 5.0, 16.0), (0.01, 1.0, 2.5), (0.1, 2.0, 4.75)]
        {
            let quadrature = log_a_by_quadrature(q, sigma, alpha);
            let series =
                if alpha.fract() == 0.0 { log_a_integer(q, sigma, alpha) } else { log_a_fractional(q, sigma, alpha) };
            // Compared on A_α − 1 (the privacy loss), where a relative error shows. Integer
            // orders are exact; the fractional series, summed with |C(α, i)|, is an upper bound
            // (conservative) and found within 0.1 % here.
            let (exact, ours) = (quadrature.exp_m1(), series.exp_m1());
            let (below, above) = if alpha.fract() == 0.0 { (1e-6, 1e-6) } else { (1e-9, 1e-2) };
            assert!(
                ours >= exact * (1.0 - below) && ours <= exact * (1.0 + above),
                "q={q} σ={sigma} α={alpha}: {ours:e} vs {exact:e}"
            );
            eprintln!("q={q} σ={sigma} α={alpha}: series {ours:e}, integral {exact:e}");
        }
    }

    #[test]
    fn log_erfc_is_continuous_where_it_switches_to_the_asymptotic_series() {
        let direct = libm::erfc(26.0).ln();
        let series = log_erfc_asymptotic(26.0);
        assert!((direct - series).abs() <= 1e-12 * direct.abs(), "{direct} vs {series}");
        assert!(log_erfc(1000.0).is_finite() && log_erfc(-1000.0) == 2f64.ln());
    }

    #[test]
    fn bad_parameters_are_typed_errors() {
        assert!(sampled_gaussian_rdp(1.5, 1.0, 2.0).is_err());
        assert!(sampled_gaussian_rdp(0.5, -1.0, 2.0).is_err());
        assert!(sampled_gaussian_rdp(0.5, 1.0, 1.0).is_err());
        assert!(epsilon_from_rdp(&[2.0], &[1.0], 0.0).is_err());
        assert!(RdpAccountant::new(&[]).is_err());
    }
}
