//! The generic federated stack: personal instances learning on private data, sharing clipped,
//! privatized, compressed learning signals through the sync protocol, and a Collective Context
//! Field that aggregates them into versioned collective parameters; plus the experiment driver
//! with its baselines and Fed-Heart-Disease, the public benchmark run on it.
//!
//! - [`learner`]: the one thing a model must provide, a flat f32 parameter vector with local
//!   training and evaluation. [`logistic`] is the logistic regression of Fed-Heart-Disease.
//! - [`instance`]: personal parameters, private data, local training, the signal.
//! - [`privacy`], [`codec`], [`secure`]: what happens to a signal before it is sealed — the
//!   protocol crate's DP (clip, noise, accountant), dfma-reference's compression ops, the
//!   protocol crate's secure aggregation.
//! - [`ccf`], [`aggregate`]: rounds, checks, the mean and the robust rules, versions.
//! - [`experiment`]: collective, isolated, FedAvg and pooled on the same seeds, with dropouts,
//!   late joins and a planted bad instance.
//! - [`heart`]: the UCI heart-disease data split by hospital.
//!
//! Nothing here writes its own cryptography or DP: signing, replay protection, noise,
//! accounting and masking are the protocol crate's.

pub mod aggregate;
pub mod ccf;
pub mod codec;
pub mod error;
pub mod experiment;
pub mod heart;
pub mod instance;
pub mod learner;
pub mod logistic;
pub mod privacy;
pub mod secure;
