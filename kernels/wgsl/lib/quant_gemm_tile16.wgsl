// The frame the prefill GEMMs' WGSL kernels share (appended to the kernel's file, which defines
// `code(block, c) -> f32`: weight c (0..32) of weight block `block`, counted from the start of
// the codes buffer, without its scale).
//
// Device layout (kernels/src/layout.rs, as the GEMVs'): `scales` packs two f16 block scales per
// u32, `codes` the blocks' code bytes as u32 words, both row-major over (row, block); x is f32
// [m, cols].
//
// A workgroup of 256 computes a tile of 16 weight rows x 16 tokens, one output per invocation.
// Per block (32 columns) it stages the tile's 16 dequantized weight rows and 16 token rows in
// workgroup memory (each invocation loads two of each), then every invocation does 32 f32
// multiply-adds from workgroup memory. Each staged weight serves 16 tokens, each activation 16
// rows. Rows and tokens past the end load zeros and store nothing.
//
// Bindings (registry calling convention): scales, codes, x, y, then the dims uniform.

struct Dims {
    rows: u32,
    cols: u32,
    m: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> scales: array<u32>;
@group(0) @binding(1) var<storage, read> codes: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> dims: Dims;

const TILE: u32 = 16u;
const BLOCK: u32 = 32u;

var<workgroup> wt: array<f32, 512>; // [16 rows][32 columns]
var<workgroup> xt: array<f32, 512>; // [16 tokens][32 columns]

fn scale(block: u32) -> f32 {
    let pair = unpack2x16float(scales[block >> 1u]);
    return select(pair.x, pair.y, (block & 1u) == 1u);
}

@compute @workgroup_size(256)
fn quant_gemm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let row0 = wg.x * TILE;
    let tok0 = wg.y * TILE;
    let blocks = dims.cols / BLOCK;
    let my_row = row0 + (li % TILE);
    let my_tok = tok0 + (li / TILE);
    var acc = 0.0;
    for (var b = 0u; b < blocks; b++) {
        // Stage: element e = li and li + 256 of each 16 x 32 tile.
        for (var k = 0u; k < 2u; k++) {
            let e = li + 256u * k;
            let i = e / BLOCK;
            let c = e % BLOCK;
            let r = row0 + i;
            var w = 0.0;
            if (r < dims.rows) {
                let blk = r * blocks + b;
                w = scale(blk) * code(blk, c);
            }
            wt[e] = w;
            let t = tok0 + i;
            var v = 0.0;
            if (t < dims.m) {
                v = x[t * dims.cols + b * BLOCK + c];
            }
            xt[e] = v;
        }
        workgroupBarrier();
        let wr = (li % TILE) * BLOCK;
        let xr = (li / TILE) * BLOCK;
        for (var c = 0u; c < BLOCK; c++) {
            acc = fma(wt[wr + c], xt[xr + c], acc);
        }
        workgroupBarrier();
    }
    if (my_row < dims.rows && my_tok < dims.m) {
        y[my_tok * dims.rows + my_row] = acc;
    }
}
