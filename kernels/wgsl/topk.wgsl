// topk: the k largest magnitudes of g with their indices, in the total order of kernels/SIGNALS.md
// ("topk"): magnitude key = bits & 0x7FFFFFFF descending, equal keys by smaller index first.
// Outputs are bit-equal to the reference: the selected set and its order are fixed by integer
// comparisons only, and values are copied as bits.
//
// Twelve launches, in order, on one bind group (every entry touches every binding):
// 1. topk_init (one workgroup): zeroes the three histograms and sets the state
//    (round 0, prefix 0, mask 0, remaining k).
// 2. Radix select of the k-th largest key T, three rounds of digits, most significant first:
//    bits 30..20 (2048 bins), 19..10 and 9..0 (1024 bins each). Each round is
//    topk_hist (a workgroup per 4096 coordinates: keys matching the digits chosen so far are
//    counted in a workgroup-memory histogram, flushed with one atomicAdd per nonzero bin: integer
//    sums, so order-free) then topk_select (one workgroup: the digit holding the k-th largest
//    key, found from the top bin down; "remaining" becomes how many keys equal to the new prefix
//    still belong to the answer). After round 3 the prefix is T, "remaining" is take, the number
//    of keys equal to T in the top k, and the round-3 bin of T is ties, how many keys equal T.
// 3. topk_ties (a workgroup per 4096 coordinates) counts keys equal to T per chunk, and
//    topk_tie_select (one workgroup) finds the index L of the take-th of them in index order
//    (the chunk from the per-chunk counts, then the place within it). Both return at once when
//    take = ties (every key equal to T is in), with L = 0xFFFFFFFF.
// 4. topk_compact (a workgroup per 4096 coordinates): coordinate i is selected iff key > T, or
//    key = T and i <= L: exactly k. Each workgroup reserves its slots with one atomicAdd and
//    writes (key, index) pairs to the candidate buffer (slot order is scheduling-dependent; the
//    set is not).
// 5. topk_tile_sort (a workgroup per tile of 1024 candidates): a bitonic sort in workgroup
//    memory by (key descending, index ascending); the last tile is padded with (0, 0xFFFFFFFF),
//    which every real candidate precedes.
// 6. topk_rank (an invocation per candidate): its place in the answer is its place in its own
//    tile plus, for every other tile, how many of that tile's candidates precede it (a binary
//    search; candidates are distinct, so places are distinct). It writes indices[place] and
//    values[place] = bits of g[index].
// Cost: g is read five times (four when take = ties), the candidates three times;
// the rank pass does ceil(k / 1024) - 1 binary searches of 10 steps per candidate, which is
// O(k^2 / 1024) work: 16 searches at k = 16384, fine up to k of a few hundred thousand.
// The selection is multi-workgroup; only the two select passes and the init are single
// workgroups, each over at most 2048 bins or n / 4096 chunk counts.
//
// Bindings: g (f32 bits), k (unused: k travels in dims), work (histograms, state, per-chunk tie
// counts), cand (candidate keys, then candidate indices, each k_pad = 1024 ceil(k / 1024) words),
// indices, values (f32 bits), dims {n, k}. Workgroups are numbered x + y * width.

struct Dims {
    n: u32,
    k: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> g: array<u32>;
@group(0) @binding(1) var<storage, read> k_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> work: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> cand: array<u32>;
@group(0) @binding(4) var<storage, read_write> indices: array<u32>;
@group(0) @binding(5) var<storage, read_write> values: array<u32>;
@group(0) @binding(6) var<uniform> dims: Dims;

// Coordinates of one workgroup of the streaming passes (16 an invocation).
const CHUNK: u32 = 4096u;
// Candidates of one sorted tile.
const TILE: u32 = 1024u;
// Histogram words a round (round 0 uses all, rounds 1 and 2 half).
const BINS: u32 = 2048u;
// Layout of `work`: three histograms, then the state words, then one tie count per chunk.
const HIST_WORDS: u32 = 6144u;
const S_ROUND: u32 = 6144u;
const S_PREFIX: u32 = 6145u;
const S_MASK: u32 = 6146u;
const S_REMAIN: u32 = 6147u;
const S_TIES: u32 = 6148u;
const S_LAST: u32 = 6149u;
const S_COUNT: u32 = 6150u;
const TIE_COUNTS: u32 = 6160u;

var<workgroup> hist: array<atomic<u32>, 2048>;
var<workgroup> part: array<u32, 256>;
var<workgroup> above: array<u32, 256>;
var<workgroup> st: array<u32, 4>;
var<workgroup> pick: array<u32, 2>;
var<workgroup> tk: array<u32, 1024>;
var<workgroup> ti: array<u32, 1024>;

// Names every binding, so each entry's pipeline layout matches the shared bind group.
fn bind_all() {
    _ = arrayLength(&g);
    _ = k_in[0];
    _ = arrayLength(&work);
    _ = arrayLength(&cand);
    _ = arrayLength(&indices);
    _ = arrayLength(&values);
    _ = dims.n;
}

fn mag(i: u32) -> u32 {
    return g[i] & 0x7FFFFFFFu;
}

fn round_shift(round: u32) -> u32 {
    return select(select(0u, 10u, round == 1u), 20u, round == 0u);
}

fn round_bins(round: u32) -> u32 {
    return select(1024u, 2048u, round == 0u);
}

fn k_pad() -> u32 {
    return (dims.k + TILE - 1u) / TILE * TILE;
}

// Exclusive prefix sums of part[0..256) into above[0..256), by invocation 0 (256 adds).
fn prefix_by_first(t: u32) {
    if t == 0u {
        var acc = 0u;
        for (var u = 0u; u < 256u; u++) {
            above[u] = acc;
            acc += part[u];
        }
    }
}

@compute @workgroup_size(256)
fn topk_init(@builtin(local_invocation_index) t: u32) {
    bind_all();
    for (var w = t; w < HIST_WORDS; w += 256u) {
        atomicStore(&work[w], 0u);
    }
    if t == 0u {
        atomicStore(&work[S_ROUND], 0u);
        atomicStore(&work[S_PREFIX], 0u);
        atomicStore(&work[S_MASK], 0u);
        atomicStore(&work[S_REMAIN], dims.k);
        atomicStore(&work[S_TIES], 0u);
        atomicStore(&work[S_LAST], 0u);
        atomicStore(&work[S_COUNT], 0u);
    }
}

@compute @workgroup_size(256)
fn topk_hist(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    bind_all();
    if t == 0u {
        st[0] = atomicLoad(&work[S_ROUND]);
        st[1] = atomicLoad(&work[S_PREFIX]);
        st[2] = atomicLoad(&work[S_MASK]);
    }
    let s = workgroupUniformLoad(&st);
    let chunk = wg.x + wg.y * nwg.x;
    if chunk * CHUNK >= dims.n {
        return;
    }
    let shift = round_shift(s[0]);
    let bins = round_bins(s[0]);
    for (var b = t; b < bins; b += 256u) {
        atomicStore(&hist[b], 0u);
    }
    workgroupBarrier();
    for (var j = 0u; j < CHUNK / 256u; j++) {
        let i = chunk * CHUNK + j * 256u + t;
        if i < dims.n {
            let key = mag(i);
            if (key & s[2]) == s[1] {
                atomicAdd(&hist[(key >> shift) & (bins - 1u)], 1u);
            }
        }
    }
    workgroupBarrier();
    for (var b = t; b < bins; b += 256u) {
        let h = atomicLoad(&hist[b]);
        if h != 0u {
            atomicAdd(&work[s[0] * BINS + b], h);
        }
    }
}

@compute @workgroup_size(256)
fn topk_select(@builtin(local_invocation_index) t: u32) {
    bind_all();
    if t == 0u {
        st[0] = atomicLoad(&work[S_ROUND]);
        st[1] = atomicLoad(&work[S_PREFIX]);
        st[2] = atomicLoad(&work[S_MASK]);
        st[3] = atomicLoad(&work[S_REMAIN]);
    }
    let s = workgroupUniformLoad(&st);
    let round = s[0];
    let shift = round_shift(round);
    let bins = round_bins(round);
    let per = bins / 256u;
    // Invocation t owns bins top, top - 1, .., top - per + 1: invocation 0 the highest.
    let top = bins - 1u - t * per;
    let h0 = round * BINS;
    var sum = 0u;
    for (var j = 0u; j < per; j++) {
        sum += atomicLoad(&work[h0 + top - j]);
    }
    part[t] = sum;
    workgroupBarrier();
    prefix_by_first(t);
    workgroupBarrier();
    let rem = s[3];
    let a = above[t];
    if a < rem && rem <= a + sum {
        var cum = a;
        for (var j = 0u; j < per; j++) {
            let b = top - j;
            let h = atomicLoad(&work[h0 + b]);
            if cum + h >= rem {
                atomicStore(&work[S_PREFIX], s[1] | (b << shift));
                atomicStore(&work[S_MASK], s[2] | ((bins - 1u) << shift));
                atomicStore(&work[S_REMAIN], rem - cum);
                atomicStore(&work[S_TIES], h);
                break;
            }
            cum += h;
        }
    }
    if t == 0u {
        atomicStore(&work[S_ROUND], round + 1u);
    }
}

@compute @workgroup_size(256)
fn topk_ties(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    bind_all();
    if t == 0u {
        st[0] = atomicLoad(&work[S_PREFIX]);
        st[1] = atomicLoad(&work[S_REMAIN]);
        st[2] = atomicLoad(&work[S_TIES]);
        atomicStore(&hist[0], 0u);
    }
    let s = workgroupUniformLoad(&st);
    let chunk = wg.x + wg.y * nwg.x;
    if chunk * CHUNK >= dims.n || s[1] == s[2] {
        return;
    }
    var count = 0u;
    for (var j = 0u; j < CHUNK / 256u; j++) {
        let i = chunk * CHUNK + j * 256u + t;
        if i < dims.n && mag(i) == s[0] {
            count += 1u;
        }
    }
    atomicAdd(&hist[0], count);
    workgroupBarrier();
    if t == 0u {
        atomicStore(&work[TIE_COUNTS + chunk], atomicLoad(&hist[0]));
    }
}

@compute @workgroup_size(256)
fn topk_tie_select(@builtin(local_invocation_index) t: u32) {
    bind_all();
    if t == 0u {
        st[0] = atomicLoad(&work[S_PREFIX]);
        st[1] = atomicLoad(&work[S_REMAIN]);
        st[2] = atomicLoad(&work[S_TIES]);
    }
    let s = workgroupUniformLoad(&st);
    let take = s[1];
    if take == s[2] {
        if t == 0u {
            atomicStore(&work[S_LAST], 0xFFFFFFFFu);
        }
        return;
    }
    // The chunk holding the take-th tie: invocation t sums chunks t per .. t per + per - 1.
    let chunks = (dims.n + CHUNK - 1u) / CHUNK;
    let per = (chunks + 255u) / 256u;
    var sum = 0u;
    for (var j = 0u; j < per; j++) {
        let q = t * per + j;
        if q < chunks {
            sum += atomicLoad(&work[TIE_COUNTS + q]);
        }
    }
    part[t] = sum;
    workgroupBarrier();
    prefix_by_first(t);
    workgroupBarrier();
    if above[t] < take && take <= above[t] + sum {
        var cum = above[t];
        for (var j = 0u; j < per; j++) {
            let q = t * per + j;
            let c = atomicLoad(&work[TIE_COUNTS + q]);
            if cum + c >= take {
                pick[0] = q;
                pick[1] = take - cum;
                break;
            }
            cum += c;
        }
    }
    let p = workgroupUniformLoad(&pick);
    // Within chunk p[0]: invocation t owns 16 consecutive coordinates, so invocation order is
    // index order; the need-th tie (1-based) of the chunk is L.
    let need = p[1];
    let base = p[0] * CHUNK + t * 16u;
    var count = 0u;
    for (var j = 0u; j < 16u; j++) {
        let i = base + j;
        if i < dims.n && mag(i) == s[0] {
            count += 1u;
        }
    }
    part[t] = count;
    workgroupBarrier();
    prefix_by_first(t);
    workgroupBarrier();
    let a = above[t];
    if a < need && need <= a + count {
        var c = a;
        for (var j = 0u; j < 16u; j++) {
            let i = base + j;
            if i < dims.n && mag(i) == s[0] {
                c += 1u;
                if c == need {
                    atomicStore(&work[S_LAST], i);
                    break;
                }
            }
        }
    }
}

@compute @workgroup_size(256)
fn topk_compact(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    bind_all();
    if t == 0u {
        st[0] = atomicLoad(&work[S_PREFIX]);
        st[1] = atomicLoad(&work[S_LAST]);
        atomicStore(&hist[0], 0u);
        atomicStore(&hist[1], 0u);
    }
    let s = workgroupUniformLoad(&st);
    let chunk = wg.x + wg.y * nwg.x;
    if chunk * CHUNK >= dims.n {
        return;
    }
    var mine = 0u;
    for (var j = 0u; j < CHUNK / 256u; j++) {
        let i = chunk * CHUNK + j * 256u + t;
        if i < dims.n {
            let key = mag(i);
            if key > s[0] || (key == s[0] && i <= s[1]) {
                mine += 1u;
            }
        }
    }
    atomicAdd(&hist[0], mine);
    workgroupBarrier();
    if t == 0u {
        pick[0] = atomicAdd(&work[S_COUNT], atomicLoad(&hist[0]));
    }
    let base = workgroupUniformLoad(&pick)[0];
    if mine == 0u {
        return;
    }
    let kp = k_pad();
    var at = base + atomicAdd(&hist[1], mine);
    for (var j = 0u; j < CHUNK / 256u; j++) {
        let i = chunk * CHUNK + j * 256u + t;
        if i < dims.n {
            let key = mag(i);
            if key > s[0] || (key == s[0] && i <= s[1]) {
                cand[at] = key;
                cand[kp + at] = i;
                at += 1u;
            }
        }
    }
}

@compute @workgroup_size(256)
fn topk_tile_sort(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    bind_all();
    let tile = wg.x + wg.y * nwg.x;
    if tile * TILE >= dims.k {
        return;
    }
    let kp = k_pad();
    for (var j = 0u; j < TILE / 256u; j++) {
        let p = j * 256u + t;
        let at = tile * TILE + p;
        if at < dims.k {
            tk[p] = cand[at];
            ti[p] = cand[kp + at];
        } else {
            tk[p] = 0u;
            ti[p] = 0xFFFFFFFFu;
        }
    }
    workgroupBarrier();
    // Bitonic sort into "precedes" order: (key descending, index ascending).
    for (var size = 2u; size <= TILE; size <<= 1u) {
        for (var stride = size >> 1u; stride > 0u; stride >>= 1u) {
            for (var h = 0u; h < TILE / 512u; h++) {
                let p = h * 256u + t;
                let lo = (p / stride) * 2u * stride + p % stride;
                let hi = lo + stride;
                let ka = tk[lo];
                let ia = ti[lo];
                let kb = tk[hi];
                let ib = ti[hi];
                let b_first = kb > ka || (kb == ka && ib < ia);
                if b_first == ((lo & size) == 0u) {
                    tk[lo] = kb;
                    ti[lo] = ib;
                    tk[hi] = ka;
                    ti[hi] = ia;
                }
            }
            workgroupBarrier();
        }
    }
    for (var j = 0u; j < TILE / 256u; j++) {
        let p = j * 256u + t;
        let at = tile * TILE + p;
        if at < dims.k {
            cand[at] = tk[p];
            cand[kp + at] = ti[p];
        }
    }
}

@compute @workgroup_size(256)
fn topk_rank(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    bind_all();
    let p = (wg.x + wg.y * nwg.x) * 256u + t;
    if p >= dims.k {
        return;
    }
    let kp = k_pad();
    let key = cand[p];
    let idx = cand[kp + p];
    let own = p / TILE;
    var place = p - own * TILE;
    let tiles = (dims.k + TILE - 1u) / TILE;
    for (var u = 0u; u < tiles; u++) {
        if u == own {
            continue;
        }
        let start = u * TILE;
        var lo = 0u;
        var hi = min(TILE, dims.k - start);
        // How many of tile u precede (key, idx): the first place where it would go.
        while lo < hi {
            let mid = (lo + hi) / 2u;
            let km = cand[start + mid];
            if km > key || (km == key && cand[kp + start + mid] < idx) {
                lo = mid + 1u;
            } else {
                hi = mid;
            }
        }
        place += lo;
    }
    indices[place] = idx;
    values[place] = g[idx];
}
