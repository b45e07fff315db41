//! The server step: how far a round's aggregate moves the collective parameters.

/// How far a round's aggregate moves the collective adapter.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerStep {
    /// m × the aggregate, m being the number of signals it stands for (with the mean: their
    /// sum): every instance's change acts in full on everyone, as if one adapter had been
    /// trained on all their data — but the changes were computed side by side from the same
    /// start, so what they share (the answer format) is applied m times over.
    Sum,
    /// η × the aggregate (η = 1: FedAvg's mean).
    Scaled(f32),
}

impl ServerStep {
    /// Parses `sum` or a positive number η.
    pub fn parse(s: &str) -> Result<ServerStep, String> {
        if s == "sum" {
            return Ok(ServerStep::Sum);
        }
        match s.parse::<f32>() {
            Ok(eta) if eta > 0.0 && eta.is_finite() => Ok(ServerStep::Scaled(eta)),
            _ => Err(format!("server step {s:?}: expected sum or a positive number")),
        }
    }

    /// The factor on an aggregate of `m` signals.
    pub fn factor(self, m: usize) -> f32 {
        match self {
            ServerStep::Sum => m as f32,
            ServerStep::Scaled(eta) => eta,
        }
    }

    /// The name [`ServerStep::parse`] reads.
    pub fn name(self) -> String {
        match self {
            ServerStep::Sum => "sum".into(),
            ServerStep::Scaled(eta) => format!("{eta}"),
        }
    }
}
