// count_sketch: S[r, h_r(i)] += sign_r(i) g[i], r rows of c buckets, hashes as kernels/SIGNALS.md
// ("count_sketch") specifies: Philox((i, 0, r, 3), key), bucket = mulhi(y0, c), sign = bit 31 of y1.
// - count_sketch_zero: one invocation a bucket zeroes the sketch (the output is poisoned before a
//   launch, and a repeated launch must not add onto the last one).
// - count_sketch_add: one invocation a coordinate reads g[i] once and, for each row, adds +-g[i]
//   into its bucket. WGSL has atomics on u32 only, so the f32 add is a compare-exchange loop on
//   the bucket's bits (the sign is an xor of bit 31, exact). Buckets are summed in whatever order
//   the invocations arrive: the result is the reference's to f32 rounding (the op's tolerance),
//   not reproducible bit for bit run to run. The hashes themselves are integer math, bit-equal
//   to the reference.
//   Why not a fixed order: it would take per-block copies of the sketch reduced in order (r c
//   words each: 1.3 MB a block at the bench's 5 x 65536 buckets) or a sort of the r n
//   (bucket, value) pairs, either many times the op's 4 n bytes; the sketch is compared under
//   tolerance anyway, and its linearity does not need equal bits.
// Bindings: g, seed, sketch (the output, as atomic words), dims {n, r, c}. Workgroups are numbered
// x + y * width (2-D grids: at most 65535 workgroups a dimension). Both entries touch every
// binding, since they share one bind group.

struct Dims {
    n: u32,
    r: u32,
    c: u32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> seed: array<u32>;
@group(0) @binding(2) var<storage, read_write> sketch: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> dims: Dims;

const PURPOSE_COUNT_SKETCH: u32 = 3u;

// philox(ctr, key): kernels/wgsl/lib/philox.wgsl, appended by kernels/src/sources.rs.

// sketch[at] += v: retry until no other invocation changed the bucket between the load and the
// exchange. The loop ends: a failed exchange returns the newer bits to retry with.
fn add_f32(at: u32, v: f32) {
    var old = atomicLoad(&sketch[at]);
    loop {
        let r = atomicCompareExchangeWeak(&sketch[at], old, bitcast<u32>(bitcast<f32>(old) + v));
        if r.exchanged {
            break;
        }
        old = r.old_value;
    }
}

@compute @workgroup_size(256)
fn count_sketch_zero(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let at = (wg.x + wg.y * nwg.x) * 256u + t;
    if at >= dims.r * dims.c {
        // The bind group holds g and seed too: name them so this entry's layout has them.
        _ = arrayLength(&g);
        _ = seed[0];
        return;
    }
    atomicStore(&sketch[at], 0u);
}

@compute @workgroup_size(256)
fn count_sketch_add(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = (wg.x + wg.y * nwg.x) * 256u + t;
    if i >= dims.n {
        return;
    }
    let key = vec2<u32>(seed[0], seed[1]);
    let v = bitcast<u32>(g[i]);
    for (var row = 0u; row < dims.r; row++) {
        // Counter (i mod 2^32, i div 2^32, row, 3); i < n < 2^32.
        let y = philox(vec4<u32>(i, 0u, row, PURPOSE_COUNT_SKETCH), key);
        let bucket = mulhi(y.x, dims.c);
        add_f32(row * dims.c + bucket, bitcast<f32>(v ^ (y.y & 0x80000000u)));
    }
}
