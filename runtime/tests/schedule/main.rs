//! Scheduler tests: the CAISO reference figures, GB forecast versus actual, a seeded property
//! test and bad input.

mod bad_input;
mod caiso;
mod data;
mod gb;
mod property;
