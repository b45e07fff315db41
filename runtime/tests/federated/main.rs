//! Federated-stack tests: the collective beats isolated learning on seeded non-IID data, robust
//! aggregation contains a planted bad instance, dropouts and late joins lose no round, refused
//! signals change no state, secure aggregation sums what the plain mean sums, and
//! Fed-Heart-Disease meets its Done-when on the real CSV (when `DFMA_HEART_CSV` is set; required
//! under `CI=true`). Random data is seeded; the seed is printed and `DFMA_SEED` reproduces it.

mod collective;
mod heart;
mod rejection;
mod robust;
mod secure;
mod synthetic;
