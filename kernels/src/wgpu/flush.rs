//! The wgpu backend's cache flush before a cold sample: `kernels/wgsl/cache_flush.wgsl` reads
//! a buffer larger than the device's caches, one binding-sized chunk a dispatch. A read, not
//! `clear_buffer`: a clear would leave the caches full of dirty lines, whose write-back the timed
//! kernel's first reads would pay for (see the shader's header).

use super::err;
use crate::backend::Error;
use crate::sources::CACHE_FLUSH_WGSL;

/// Threads a workgroup (the shader's) and words a thread, which size each chunk's dispatch.
const THREADS: u64 = 256;
const WORDS_PER_THREAD: u64 = 8;
/// Bytes a word of the shader's `array<vec4<u32>>`.
const WORD_BYTES: u64 = 16;

/// The flush's pipeline, buffer and sink, with one bind group per chunk of the buffer.
pub(super) struct CacheFlush {
    pipeline: wgpu::ComputePipeline,
    buffer: wgpu::Buffer,
    /// Bound by every chunk's bind group; read back only by the tests.
    #[cfg_attr(not(test), expect(dead_code, reason = "the bind groups hold it; the tests read it"))]
    sink: wgpu::Buffer,
    /// Per chunk: its bind group and its workgroups.
    chunks: Vec<(wgpu::BindGroup, u32)>,
}

impl CacheFlush {
    /// A flush of `bytes` (rounded down to whole 16-byte words) bound in chunks of at most
    /// `max_binding_bytes` each (the adapter's storage-binding limit; chunk starts are aligned
    /// to its storage offset alignment).
    pub(super) fn new(device: &wgpu::Device, bytes: u64, max_binding_bytes: u64) -> Result<Self, Error> {
        let align = u64::from(device.limits().min_storage_buffer_offset_alignment).max(WORD_BYTES);
        let chunk_bytes = max_binding_bytes / align * align;
        if bytes < WORD_BYTES || chunk_bytes == 0 {
            return Err(err(format!(
                "cache flush: {bytes} bytes in bindings of at most {max_binding_bytes} (offsets aligned to {align}): \
                 nothing to read"
            )));
        }
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(CACHE_FLUSH_WGSL.file),
            source: wgpu::ShaderSource::Wgsl(CACHE_FLUSH_WGSL.text.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("cache_flush"),
            layout: None,
            module: &module,
            entry_point: Some("cache_flush"),
            compilation_options: Default::default(),
            cache: None,
        });
        let bytes = bytes / WORD_BYTES * WORD_BYTES;
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dfma cache flush"),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let sink = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dfma cache flush sink"),
            size: 4,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let max_groups = u64::from(device.limits().max_compute_workgroups_per_dimension);
        let layout = pipeline.get_bind_group_layout(0);
        let chunks = (0..bytes)
            .step_by(chunk_bytes as usize)
            .map(|offset| {
                let size = chunk_bytes.min(bytes - offset);
                let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("cache_flush"),
                    layout: &layout,
                    entries: &[
                        wgpu::BindGroupEntry {
                            binding: 0,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: &buffer,
                                offset,
                                size: wgpu::BufferSize::new(size),
                            }),
                        },
                        wgpu::BindGroupEntry { binding: 1, resource: sink.as_entire_binding() },
                    ],
                });
                let groups = (size / WORD_BYTES).div_ceil(THREADS * WORDS_PER_THREAD).clamp(1, max_groups);
                (bind_group, groups as u32)
            })
            .collect();
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(err(format!("{}: {e}", CACHE_FLUSH_WGSL.file)));
        }
        Ok(Self { pipeline, buffer, sink, chunks })
    }

    /// Records the flush: one dispatch per chunk, in one compute pass.
    pub(super) fn encode(&self, enc: &mut wgpu::CommandEncoder) {
        let mut pass =
            enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("flush"), timestamp_writes: None });
        pass.set_pipeline(&self.pipeline);
        for (bind_group, groups) in &self.chunks {
            pass.set_bind_group(0, bind_group, &[]);
            pass.dispatch_workgroups(*groups, 1, 1);
        }
    }

    /// Bytes the flush reads.
    pub(super) fn bytes(&self) -> u64 {
        self.buffer.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wgpu::WgpuBackend;

    /// The sink after writing `words` to a flush of their size in chunks of `chunk_bytes`,
    /// starting from a poison value.
    fn sink_after(backend: &WgpuBackend, words: &[u32], chunk_bytes: u64) -> u32 {
        let (device, queue) = (&backend.device, &backend.queue);
        let flush = CacheFlush::new(device, 4 * words.len() as u64, chunk_bytes).expect("flush");
        assert_eq!(flush.bytes(), 4 * words.len() as u64, "whole 16-byte words");
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        queue.write_buffer(&flush.buffer, 0, &bytes);
        queue.write_buffer(&flush.sink, 0, &0xA5A5_A5A5u32.to_le_bytes());
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: 4,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = device.create_command_encoder(&Default::default());
        flush.encode(&mut enc);
        enc.copy_buffer_to_buffer(&flush.sink, 0, &readback, 0, 4);
        queue.submit([enc.finish()]);
        readback.slice(..).map_async(wgpu::MapMode::Read, |r| r.expect("map"));
        device.poll(wgpu::PollType::wait_indefinitely()).expect("poll");
        let v = u32::from_le_bytes(readback.slice(..).get_mapped_range().expect("mapped")[..4].try_into().unwrap());
        readback.unmap();
        v
    }

    #[test]
    fn the_flush_reads_every_word_of_every_chunk_and_stores_nothing_for_zeros() {
        let backend = match WgpuBackend::open(None) {
            Ok(b) => b,
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
                panic!("wgpu is mandatory in CI: {e}")
            }
            Err(e) => return println!("wgpu not run: {e}"),
        };
        // 1 MiB and 3 words in chunks of 256 KiB: four whole chunks and a ragged fifth of 48 bytes.
        let seed = dfma_reference::seed::seed_from_env().expect("DFMA_SEED");
        let mut state = seed;
        let words: Vec<u32> = (0..(1 << 18) + 12)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 32) as u32
            })
            .collect();
        let all = words.iter().fold(0, |a, w| a ^ w);
        println!("{}: seed {seed} (DFMA_SEED reproduces)", backend.info.name);
        assert_eq!(sink_after(&backend, &words, 256 << 10), 0xA5A5_A5A5 ^ all, "the flush missed words");
        assert_eq!(sink_after(&backend, &vec![0; words.len()], 256 << 10), 0xA5A5_A5A5, "zeros store nothing");
    }
}
