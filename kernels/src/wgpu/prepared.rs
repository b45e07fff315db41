//! A WGSL kernel bound to device buffers: inputs in the kernel's layout, poisonable outputs and
//! a uniform of the op's dims.

use std::sync::Arc;

use dfma_reference::{DType, Dims, Tensor};
use wgpu::util::DeviceExt;

use super::{WgpuBackend, err};
use crate::backend::{Error, Prepared, TimingMethod};
use crate::registry::{GpuKernel, Grid, KernelSpec};
use crate::resident::InputSlots;

pub(super) struct WgpuPrepared<'a> {
    backend: &'a WgpuBackend,
    pipeline: Arc<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
    /// The layout's device buffers, kept so that an as-is input can be rewritten.
    inputs: Vec<wgpu::Buffer>,
    outputs: Vec<(wgpu::Buffer, DType, Vec<usize>)>,
    /// One MAP_READ buffer per output, made at the first read and reused by every later one.
    readback: Vec<wgpu::Buffer>,
    /// The kernel, for the input buffers a rewrite may touch.
    kernel: GpuKernel,
    /// Input shapes, to check a rewrite.
    slots: InputSlots,
    grid: Grid,
    /// A multi-pass kernel's later pipelines, in order, each with its bind group (same
    /// buffers) and geometry.
    later: Vec<(Arc<wgpu::ComputePipeline>, wgpu::BindGroup, Grid)>,
    /// Timestamp query set and its resolve and readback buffers, made at the first timed launch.
    timestamps: Option<Timestamps>,
}

/// The resources of one timestamp pair.
struct Timestamps {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
}

impl Timestamps {
    fn new(device: &wgpu::Device) -> Self {
        let buffer = |label, usage| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: 16,
                usage,
                mapped_at_creation: false,
            })
        };
        Self {
            queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("dfma timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            }),
            resolve: buffer(
                "dfma timestamps resolve",
                wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            ),
            readback: buffer("dfma timestamps readback", wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST),
        }
    }
}

fn padded_to_4(bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v.resize(bytes.len().next_multiple_of(4).max(4), 0);
    v
}

fn poison_bytes(dtype: DType, n: usize) -> Vec<u8> {
    padded_to_4(Tensor::poisoned(dtype, vec![n]).as_bytes())
}

impl<'a> WgpuPrepared<'a> {
    pub(super) fn new(
        backend: &'a WgpuBackend,
        kernel: &'static KernelSpec,
        k: &GpuKernel,
        pipeline: Arc<wgpu::ComputePipeline>,
        later: Vec<(Arc<wgpu::ComputePipeline>, Grid)>,
        dims: &Dims,
        inputs: &[Tensor],
    ) -> Result<Self, Error> {
        let device = &backend.device;
        let max_binding = device.limits().max_storage_buffer_binding_size;
        let check_size = |what: &str, len: usize| -> Result<(), Error> {
            if len as u64 > max_binding {
                return Err(err(format!(
                    "{what} needs {len} bytes, over this adapter's storage binding limit of {max_binding}"
                )));
            }
            Ok(())
        };
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut buffers = Vec::new();
        for (i, bytes) in (k.buffers)(dims, inputs).iter().enumerate() {
            check_size(&format!("{} input buffer {i}", kernel.id()), bytes.len())?;
            buffers.push(device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("dfma input"),
                contents: &padded_to_4(bytes),
                // COPY_DST: `write_input` rewrites an as-is input (a GEMV's x) in place.
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            }));
        }
        let mut outputs = Vec::new();
        for (spec, shape) in kernel.op.outputs().iter().zip(kernel.op.output_shapes(dims)) {
            let n: usize = shape.iter().product();
            let contents = poison_bytes(spec.dtype, n);
            check_size(&format!("{} output {}", kernel.id(), spec.name), contents.len())?;
            let buf = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(spec.name),
                contents: &contents,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            });
            outputs.push((buf, spec.dtype, shape));
        }
        let mut params = dims.as_u32_params();
        params.resize(params.len().next_multiple_of(4), 0);
        let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("dfma dims"),
            contents: bytemuck::cast_slice(&params),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .chain(outputs.iter().map(|(b, _, _)| b))
            .chain(std::iter::once(&uniform))
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
            .collect();
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(k.entry),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let later: Vec<_> = later
            .into_iter()
            .zip(k.later_passes())
            .map(|((p, g), t)| {
                let bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some(t.entry),
                    layout: &p.get_bind_group_layout(0),
                    entries: &entries,
                });
                (p, bg, g)
            })
            .collect();
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(err(format!("{}: binding buffers failed: {e}", kernel.id())));
        }
        // A dispatch past the device's per-dimension limit is a validation error that wgpu
        // reports by panicking at submit; refuse it here, with the kernel's name.
        let grid = (k.grid)(dims);
        let max = device.limits().max_compute_workgroups_per_dimension;
        for g in std::iter::once(grid).chain(later.iter().map(|t| t.2)) {
            if g.blocks.iter().any(|&b| b > max) {
                return Err(err(format!(
                    "{}: grid {:?} exceeds the adapter's {max} workgroups per dimension",
                    kernel.id(),
                    g.blocks
                )));
            }
        }
        Ok(Self {
            backend,
            pipeline,
            bind_group,
            inputs: buffers,
            outputs,
            readback: Vec::new(),
            kernel: *k,
            slots: InputSlots::new(kernel, inputs),
            grid,
            later,
            timestamps: None,
        })
    }
}

impl WgpuPrepared<'_> {
    /// Records `count` dispatches in one compute pass, with timestamps at its ends if asked.
    fn encode(&self, enc: &mut wgpu::CommandEncoder, count: u32, timestamps: Option<&wgpu::QuerySet>) {
        let timestamp_writes = timestamps.map(|q| wgpu::ComputePassTimestampWrites {
            query_set: q,
            beginning_of_pass_write_index: Some(0),
            end_of_pass_write_index: Some(1),
        });
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("dfma"), timestamp_writes });
        let [x, y, z] = self.grid.blocks;
        for _ in 0..count {
            // wgpu orders dispatches of one pass: each sees the earlier ones' storage writes.
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &self.bind_group, &[]);
            pass.dispatch_workgroups(x, y, z);
            for (p, bg, g) in &self.later {
                pass.set_pipeline(p);
                pass.set_bind_group(0, bg, &[]);
                let [x2, y2, z2] = g.blocks;
                pass.dispatch_workgroups(x2, y2, z2);
            }
        }
    }
}

/// Maps `buf` (MAP_READ) after the queue finishes and copies out its first `len` bytes.
fn read_mapped(device: &wgpu::Device, buf: &wgpu::Buffer, len: usize) -> Result<Vec<u8>, Error> {
    Ok(read_all_mapped(device, &[(buf, len)])?.pop().expect("one buffer"))
}

/// Maps every `(buffer, len)` (MAP_READ) with one wait for the queue, and copies out the first
/// `len` bytes of each, in order.
fn read_all_mapped(device: &wgpu::Device, bufs: &[(&wgpu::Buffer, usize)]) -> Result<Vec<Vec<u8>>, Error> {
    let (tx, rx) = std::sync::mpsc::channel();
    for (i, (buf, _)) in bufs.iter().enumerate() {
        let tx = tx.clone();
        buf.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send((i, r));
        });
    }
    drop(tx);
    device.poll(wgpu::PollType::wait_indefinitely()).map_err(err)?;
    for _ in bufs {
        rx.recv().map_err(err)?.1.map_err(err)?;
    }
    let mut out = Vec::with_capacity(bufs.len());
    for (buf, len) in bufs {
        let data = buf.slice(..).get_mapped_range().map_err(err)?[..*len].to_vec();
        buf.unmap();
        out.push(data);
    }
    Ok(out)
}

impl Prepared for WgpuPrepared<'_> {
    fn poison_outputs(&mut self) -> Result<(), Error> {
        for (buf, dtype, shape) in &self.outputs {
            let n = shape.iter().product();
            self.backend.queue.write_buffer(buf, 0, &poison_bytes(*dtype, n));
        }
        Ok(())
    }

    fn launch(&mut self) -> Result<(), Error> {
        let device = &self.backend.device;
        let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("dfma launch") });
        self.encode(&mut enc, 1, None);
        self.backend.queue.submit([enc.finish()]);
        Ok(())
    }

    fn time_launches(&mut self, count: u32) -> Result<(f64, TimingMethod), Error> {
        if !self.backend.timestamps {
            self.synchronize()?;
            let t = std::time::Instant::now();
            let device = &self.backend.device;
            let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("dfma timed") });
            self.encode(&mut enc, count, None);
            self.backend.queue.submit([enc.finish()]);
            self.synchronize()?;
            return Ok((t.elapsed().as_secs_f64(), TimingMethod::HostClock));
        }
        let device = &self.backend.device;
        let ts = self.timestamps.take().unwrap_or_else(|| Timestamps::new(device));
        let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("dfma timed") });
        self.encode(&mut enc, count, Some(&ts.queries));
        enc.resolve_query_set(&ts.queries, 0..2, &ts.resolve, 0);
        enc.copy_buffer_to_buffer(&ts.resolve, 0, &ts.readback, 0, 16);
        self.backend.queue.submit([enc.finish()]);
        let ticks = read_mapped(device, &ts.readback, 16);
        self.timestamps = Some(ts);
        let ticks = ticks?;
        let t0 = u64::from_le_bytes(ticks[..8].try_into().expect("8 bytes"));
        let t1 = u64::from_le_bytes(ticks[8..].try_into().expect("8 bytes"));
        let ns = t1.saturating_sub(t0) as f64 * f64::from(self.backend.queue.get_timestamp_period());
        Ok((ns * 1e-9, TimingMethod::WgpuTimestamps))
    }

    fn synchronize(&mut self) -> Result<(), Error> {
        self.backend.device.poll(wgpu::PollType::wait_indefinitely()).map_err(err)?;
        Ok(())
    }

    fn read_outputs(&mut self) -> Result<Vec<Tensor>, Error> {
        let device = &self.backend.device;
        let byte_len = |dtype: DType, shape: &[usize]| shape.iter().product::<usize>() * dtype.size_bytes();
        if self.readback.is_empty() {
            self.readback = (self.outputs.iter())
                .map(|(_, dtype, shape)| {
                    device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("dfma readback"),
                        size: byte_len(*dtype, shape).next_multiple_of(4).max(4) as u64,
                        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    })
                })
                .collect();
        }
        // Every output in one submission and one wait: a launch's results come back together.
        let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("readback") });
        for ((buf, _, _), staging) in self.outputs.iter().zip(&self.readback) {
            enc.copy_buffer_to_buffer(buf, 0, staging, 0, staging.size());
        }
        self.backend.queue.submit([enc.finish()]);
        let lens: Vec<(&wgpu::Buffer, usize)> =
            self.outputs.iter().zip(&self.readback).map(|((_, d, s), st)| (st, byte_len(*d, s))).collect();
        let data = read_all_mapped(device, &lens)?;
        Ok(self
            .outputs
            .iter()
            .zip(data)
            .map(|((_, dtype, shape), d)| {
                Tensor::from_bytes(*dtype, shape.clone(), &d).expect("readback length matches shape")
            })
            .collect())
    }

    fn write_input(&mut self, input: usize, t: &Tensor) -> Result<(), Error> {
        let b = self.slots.device_buffer(&self.kernel, input, t)?;
        // Staged by the queue and applied before the next submission's commands, after every
        // earlier one: launches already submitted keep the old value.
        self.backend.queue.write_buffer(&self.inputs[b], 0, &padded_to_4(t.as_bytes()));
        Ok(())
    }
}
