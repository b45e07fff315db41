//! Re-running a prepared kernel on new inputs ([`crate::Prepared::write_input`]).
//!
//! A GPU kernel's layout function maps all of an op's inputs to device buffers at once, and may
//! repack them (GGML blocks split into planes, codes permuted into warp tiles). Re-running it
//! for one changed input would repack the weights too, on every call. Instead a kernel declares
//! which op inputs its layout copies unchanged ([`GpuKernel::inputs_as_is`]): those, and only
//! those, are rewritten in place — the activations of a GEMV, while its weights stay resident.
//! Host kernels keep their inputs as host tensors, so every input of theirs can be rewritten.
//!
//! Every backend checks a rewrite the same way, here: the input exists, and the tensor has the
//! dtype and shape of the one the kernel was prepared with (so the device buffer's size, the
//! op's dims and the launch geometry all still hold).

use dfma_reference::{DType, Tensor};

use crate::backend::Error;
use crate::registry::{GpuKernel, KernelSpec};

/// The dtype and shape of each op input a kernel was prepared with.
pub(crate) struct InputSlots {
    kernel: &'static KernelSpec,
    inputs: Vec<(DType, Vec<usize>)>,
}

impl InputSlots {
    /// Remembers the dtype and shape of `inputs`.
    pub(crate) fn new(kernel: &'static KernelSpec, inputs: &[Tensor]) -> Self {
        Self { kernel, inputs: inputs.iter().map(|t| (t.dtype(), t.shape.clone())).collect() }
    }

    fn error(&self, message: String) -> Error {
        Error::Input { kernel: self.kernel.id(), message }
    }

    /// Checks that `t` can replace op input `input`: same dtype, same shape.
    pub(crate) fn check(&self, input: usize, t: &Tensor) -> Result<(), Error> {
        let names = self.kernel.op.inputs();
        let Some((dtype, shape)) = self.inputs.get(input) else {
            return Err(self.error(format!("has {} inputs, no input {input}", self.inputs.len())));
        };
        let name = names.get(input).map_or("?", |s| s.name);
        if t.dtype() != *dtype || t.shape != *shape {
            return Err(self.error(format!(
                "input {name} was prepared as {dtype:?} of shape {shape:?}; a rewrite must keep its dtype and shape, got {:?} of shape {:?}",
                t.dtype(),
                t.shape
            )));
        }
        Ok(())
    }

    /// Checks `t` as [`Self::check`] does and returns the device buffer op input `input` lands
    /// in unchanged, or an error saying the layout repacks it.
    pub(crate) fn device_buffer(&self, k: &GpuKernel, input: usize, t: &Tensor) -> Result<usize, Error> {
        self.check(input, t)?;
        k.inputs_as_is.iter().find(|(i, _)| *i == input).map(|&(_, b)| b).ok_or_else(|| {
            let name = self.kernel.op.inputs().get(input).map_or("?", |s| s.name);
            self.error(format!(
                "its layout repacks input {name} (not declared in inputs_as_is): prepare the kernel again instead"
            ))
        })
    }
}
