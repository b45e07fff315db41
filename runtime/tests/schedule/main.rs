//! Scheduler tests: the reference figures (CAISO, Spain), GB forecast versus actual, the online
//! policy with forecast error, signal formats, jobs and power levels, a seeded property test and
//! bad input.

mod bad_input;
mod caiso;
mod data;
mod gb;
mod jobs;
mod online;
mod property;
mod signals;
mod sweep;
