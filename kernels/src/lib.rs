//! dfma's kernels and the backends that run them.
//!
//! - [`registry`]: every kernel of every op — one [`registry::KernelSpec`] each — and the
//!   backends it runs on. Tests and benches are generated from it.
//! - [`backend`]: the small [`backend::Backend`] / [`backend::Prepared`] traits every backend
//!   implements; [`open`] opens one by kind and says why when it cannot.
//! - `host`, `wgpu`, `cuda`, [`ptxvm`] (the PTX interpreter): the backends. Kernel sources live in `kernels/ptx` and
//!   `kernels/wgsl` and are embedded at build time.
//! - [`ptxas`]: assembles every PTX file with NVIDIA's `ptxas` and checks its resources and SASS.
//! - [`tune`]: the cache of `dfma tune`'s choices: the fastest variant per device, driver, op and shape.

pub mod backend;
pub mod cuda;
pub mod host;
pub mod layout;
pub mod open;
pub mod ptxas;
pub mod ptxvm;
pub mod registry;
mod resident;
pub mod sources;
pub mod tune;
pub mod wgpu;

pub use backend::{Backend, BackendKind, DeviceInfo, Error, Prepared, TimingMethod, run_once};
pub use open::{BackendOptions, open};
