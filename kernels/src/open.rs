//! Opening backends by kind, with the reason when one cannot run here.

use crate::backend::{Backend, BackendKind, Error};
use crate::cuda::CudaBackend;
use crate::host::HostBackend;
use crate::ptxvm::PtxvmBackend;
use crate::wgpu::WgpuBackend;

/// Device selection for [`open`].
#[derive(Clone, Debug, Default)]
pub struct BackendOptions {
    /// wgpu adapter: index or name substring (else `DFMA_WGPU_ADAPTER`, else the best).
    pub wgpu_adapter: Option<String>,
    /// CUDA device ordinal.
    pub cuda_device: usize,
}

/// Opens the backend of `kind`, or says why it is not available on this machine.
pub fn open(kind: BackendKind, opts: &BackendOptions) -> Result<Box<dyn Backend>, Error> {
    Ok(match kind {
        BackendKind::Reference | BackendKind::Cpu => Box::new(HostBackend::new(kind)),
        BackendKind::Wgpu => Box::new(WgpuBackend::open(opts.wgpu_adapter.as_deref())?),
        BackendKind::Cuda => Box::new(CudaBackend::open(opts.cuda_device)?),
        BackendKind::Ptxvm => Box::new(PtxvmBackend::new()),
    })
}
