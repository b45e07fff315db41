//! The federated stack, one for every model: personal instances learning on private data,
//! sharing clipped, privatized, compressed learning signals through the sync protocol, and a
//! Collective Context Field that aggregates them into versioned collective parameters. The
//! model experiment (`crate::reasoning::experiment`: the collective adapter's B) and
//! Fed-Heart-Disease (a logistic regression) run on the same sender, CCF, codecs, aggregation
//! rules and protocol; here too are the generic experiment driver with its baselines and
//! Fed-Heart-Disease's data.
//!
//! - [`learner`]: the one thing a model must provide, a flat f32 parameter vector with local
//!   training and evaluation. [`logistic`] is the logistic regression of Fed-Heart-Disease.
//! - [`instance`]: personal parameters, private data, local training, the signal.
//! - [`sender`]: an instance's side of the protocol, for every model (the model experiment's
//!   instances use it too): [`privacy`], [`codec`] and [`secure`] are what happens to a signal
//!   before it is sealed — the protocol crate's DP (clip, noise, accountant), dfma-reference's
//!   compression ops, the protocol crate's secure aggregation.
//! - [`ccf`], [`aggregate`], [`step`]: rounds, checks, the mean and the robust rules, versions;
//!   the one CCF of both experiments, served in one process ([`link`]) or to instances in
//!   other processes ([`service`]).
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
pub mod link;
pub mod logistic;
pub mod privacy;
pub mod secure;
pub mod sender;
pub mod service;
pub mod step;
