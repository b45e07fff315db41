// cache_flush: what the wgpu backend runs before a cold sample (not an op). It reads every
// 16-byte word of a buffer larger than the device's caches, so that they end up holding clean
// lines of that buffer and nothing of the timed kernel's inputs.
//
// Why a read and not clear_buffer: GPU caches are write-back. A clear leaves them full of dirty
// lines, and the timed kernel's first reads would pay for writing those back to memory. After
// this read only lines that were dirty before the flush are written back, and here, untimed.
//
// Nothing may be stored for the reads to count, yet they must not be optimized away: each
// invocation folds its words with xor, and an invocation whose fold is not zero xors it into
// `sink`. The buffer holds zeros, so nothing is stored; a test fills it with random words and
// checks that `sink` becomes the xor of all of them.
//
// Bindings: words (one binding-sized chunk of the buffer), sink. Any number of workgroups:
// invocation i reads words i, i + (invocations dispatched), ...

@group(0) @binding(0) var<storage, read> words: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> sink: atomic<u32>;

const THREADS: u32 = 256u;

@compute @workgroup_size(256)
fn cache_flush(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let n = arrayLength(&words);
    let stride = groups.x * THREADS;
    var fold = 0u;
    for (var i = id.x; i < n; i += stride) {
        let w = words[i];
        fold ^= w.x ^ w.y ^ w.z ^ w.w;
    }
    if fold != 0u {
        atomicXor(&sink, fold);
    }
}
