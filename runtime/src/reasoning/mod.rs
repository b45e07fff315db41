//! Personal instances that reason: verifiable tasks, the model answering them, and learning
//! from its own accepted answers.

pub mod experiment;
pub mod self_train;
pub mod solver;
pub mod tasks;
