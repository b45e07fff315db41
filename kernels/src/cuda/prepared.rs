//! A PTX kernel bound to device buffers on one stream.

use std::sync::Arc;

use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};
use dfma_reference::{DType, Dims, Tensor};

use super::err;
use crate::backend::{Error, Prepared, TimingMethod};
use crate::registry::{GpuKernel, Grid, KernelSpec};
use crate::resident::InputSlots;

pub(super) struct CudaPrepared {
    stream: Arc<CudaStream>,
    function: CudaFunction,
    inputs: Vec<CudaSlice<u8>>,
    outputs: Vec<(CudaSlice<u8>, DType, Vec<usize>)>,
    params: Vec<u32>,
    grid: Grid,
    /// A multi-pass kernel's later functions and geometries, launched in order after the first.
    later: Vec<(CudaFunction, Grid)>,
    /// The kernel, for the input buffers a rewrite may touch.
    kernel: GpuKernel,
    /// Input shapes, to check a rewrite.
    slots: InputSlots,
}

impl CudaPrepared {
    pub(super) fn new(
        stream: Arc<CudaStream>,
        kernel: &'static KernelSpec,
        k: &GpuKernel,
        function: CudaFunction,
        later: Vec<(CudaFunction, Grid)>,
        dims: &Dims,
        inputs: &[Tensor],
    ) -> Result<Self, Error> {
        let mut bufs = Vec::new();
        for bytes in (k.buffers)(dims, inputs) {
            // Pad so vector loads of the last element stay inside the allocation.
            let mut padded = bytes;
            padded.resize(padded.len().next_multiple_of(16).max(16), 0);
            bufs.push(stream.clone_htod(&padded).map_err(err)?);
        }
        let mut outputs = Vec::new();
        for (spec, shape) in kernel.op.outputs().iter().zip(kernel.op.output_shapes(dims)) {
            let poison = Tensor::poisoned(spec.dtype, shape.clone());
            outputs.push((stream.clone_htod(poison.as_bytes()).map_err(err)?, spec.dtype, shape));
        }
        Ok(Self {
            stream,
            function,
            inputs: bufs,
            outputs,
            params: dims.as_u32_params(),
            grid: (k.grid)(dims),
            later,
            kernel: *k,
            slots: InputSlots::new(kernel, inputs),
        })
    }
}

impl Prepared for CudaPrepared {
    fn poison_outputs(&mut self) -> Result<(), Error> {
        for (buf, dtype, shape) in &mut self.outputs {
            let poison = Tensor::poisoned(*dtype, shape.clone());
            self.stream.memcpy_htod(poison.as_bytes(), buf).map_err(err)?;
        }
        Ok(())
    }

    fn launch(&mut self) -> Result<(), Error> {
        launch_one(&self.stream, &self.function, self.grid, &self.inputs, &mut self.outputs, &self.params)?;
        for (f, g) in &self.later {
            launch_one(&self.stream, f, *g, &self.inputs, &mut self.outputs, &self.params)?;
        }
        Ok(())
    }

    fn synchronize(&mut self) -> Result<(), Error> {
        self.stream.synchronize().map_err(err)
    }

    fn time_launches(&mut self, count: u32) -> Result<(f64, TimingMethod), Error> {
        let flags = Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT);
        let start = self.stream.record_event(flags).map_err(err)?;
        for _ in 0..count {
            self.launch()?;
        }
        let end = self.stream.record_event(flags).map_err(err)?;
        end.synchronize().map_err(err)?;
        let ms = start.elapsed_ms(&end).map_err(err)?;
        Ok((f64::from(ms) * 1e-3, TimingMethod::CudaEvents))
    }

    fn write_input(&mut self, input: usize, t: &Tensor) -> Result<(), Error> {
        let b = self.slots.device_buffer(&self.kernel, input, t)?;
        let bytes = t.as_bytes();
        let buf = &mut self.inputs[b];
        // Device buffers are padded past the layout's bytes, never shorter: the shape check
        // above keeps the length the buffer was made for.
        if buf.len() < bytes.len() {
            return Err(err(format!("device buffer {b} holds {} bytes, not {}", buf.len(), bytes.len())));
        }
        // An async copy on the kernel's stream: ordered after launches already enqueued and
        // before the next; from pageable memory the driver stages `bytes` before returning.
        self.stream.memcpy_htod(bytes, &mut buf.slice_mut(..bytes.len())).map_err(err)
    }

    fn read_outputs(&mut self) -> Result<Vec<Tensor>, Error> {
        let mut out = Vec::new();
        for (buf, dtype, shape) in &self.outputs {
            let bytes = self.stream.clone_dtoh(buf).map_err(err)?;
            out.push(Tensor::from_bytes(*dtype, shape.clone(), &bytes).expect("readback length matches shape"));
        }
        Ok(out)
    }
}

/// Enqueues `function` on `grid` with the registry's calling convention.
fn launch_one(
    stream: &Arc<CudaStream>,
    function: &CudaFunction,
    g: Grid,
    inputs: &[CudaSlice<u8>],
    outputs: &mut [(CudaSlice<u8>, DType, Vec<usize>)],
    params: &[u32],
) -> Result<(), Error> {
    let mut b = stream.launch_builder(function);
    for i in inputs {
        b.arg(i);
    }
    for (o, _, _) in outputs.iter_mut() {
        b.arg(o);
    }
    for p in params {
        b.arg(p);
    }
    let cfg = LaunchConfig {
        grid_dim: (g.blocks[0], g.blocks[1], g.blocks[2]),
        block_dim: (g.threads[0], g.threads[1], g.threads[2]),
        shared_mem_bytes: 0,
    };
    // SAFETY: the argument list follows the registry's calling convention (buffers, outputs,
    // dims as u32), which every PTX entry declares in that order; buffers are sized from dims.
    unsafe { b.launch(cfg) }.map_err(err)?;
    Ok(())
}
