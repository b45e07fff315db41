//! Host entry points of the CPU adapter kernels: unpack the op's tensors, call
//! `dfma_reference::cpu::lora`.

use dfma_reference::cpu::lora::backward::{self, BackwardShape};
use dfma_reference::cpu::lora::batched::{self, Stack};
use dfma_reference::cpu::lora::fused::{self, Adapter};
use dfma_reference::cpu::lora::{lora_expand, lora_shrink};
use dfma_reference::ops::lora::fused::BaseFormat;
use dfma_reference::{Dims, Tensor, TensorData};

fn f32_in(inputs: &[Tensor], i: usize) -> &[f32] {
    inputs[i].as_f32().expect("f32 input")
}

fn u32_in(inputs: &[Tensor], i: usize) -> &[u32] {
    inputs[i].as_u32().expect("u32 input")
}

fn f32_out(outputs: &mut [Tensor], i: usize) -> &mut [f32] {
    let TensorData::F32(v) = &mut outputs[i].data else { panic!("output {i} is f32") };
    v
}

pub(super) fn shrink_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    lora_shrink(f32_in(inputs, 0), f32_in(inputs, 1), f32_out(outputs, 0), dims.get("rank"), dims.get("k"));
}

pub(super) fn expand_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let s = f32_in(inputs, 3)[0];
    let (n, rank) = (dims.get("n"), dims.get("rank"));
    lora_expand(f32_in(inputs, 0), f32_in(inputs, 1), f32_in(inputs, 2), s, f32_out(outputs, 0), n, rank);
}

fn fused_cpu(format: BaseFormat, dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let scales = f32_in(inputs, 6);
    let adapter = |a: usize, rank: &str, s: f32| Adapter {
        a: f32_in(inputs, a),
        b: f32_in(inputs, a + 1),
        rank: dims.get(rank),
        s,
    };
    let adapters = [adapter(2, "rank_p", scales[0]), adapter(4, "rank_c", scales[1])];
    let w = inputs[0].as_u8().expect("w is u8");
    fused::lora_fused(format, w, f32_in(inputs, 1), f32_out(outputs, 0), dims.get("n"), dims.get("k"), adapters);
}

pub(super) fn fused_q4_0_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    fused_cpu(BaseFormat::Q4_0, dims, inputs, outputs);
}

pub(super) fn fused_q4_1_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    fused_cpu(BaseFormat::Q4_1, dims, inputs, outputs);
}

pub(super) fn fused_q8_0_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    fused_cpu(BaseFormat::Q8_0, dims, inputs, outputs);
}

pub(super) fn fused_f16_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    fused_cpu(BaseFormat::F16, dims, inputs, outputs);
}

fn stack<'a>(dims: &Dims, inputs: &'a [Tensor]) -> Stack<'a> {
    Stack {
        a: f32_in(inputs, 1),
        b: f32_in(inputs, 2),
        scales: f32_in(inputs, 3),
        rank: dims.get("rank"),
        k: dims.get("k"),
        n: dims.get("n"),
    }
}

pub(super) fn bgmv_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    batched::bgmv(stack(dims, inputs), f32_in(inputs, 0), u32_in(inputs, 4), f32_in(inputs, 5), f32_out(outputs, 0));
}

pub(super) fn sgmv_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let (starts, seg) = (u32_in(inputs, 4), u32_in(inputs, 5));
    batched::sgmv(stack(dims, inputs), f32_in(inputs, 0), starts, seg, f32_in(inputs, 6), f32_out(outputs, 0));
}

fn backward_shape(dims: &Dims, scale: f32) -> BackwardShape {
    BackwardShape { tokens: dims.get("tokens"), k: dims.get("k"), n: dims.get("n"), rank: dims.get("rank"), scale }
}

pub(super) fn backward_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let [da, db] = outputs else { panic!("lora_backward has two outputs") };
    let (TensorData::F32(da), TensorData::F32(db)) = (&mut da.data, &mut db.data) else { panic!("f32 outputs") };
    let s = f32_in(inputs, 4)[0];
    let f = |i| f32_in(inputs, i);
    backward::lora_backward(backward_shape(dims, s), f(0), f(1), f(2), f(3), da, db);
}

pub(super) fn backward_dx_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let s = f32_in(inputs, 3)[0];
    backward::lora_backward_dx(
        backward_shape(dims, s),
        f32_in(inputs, 0),
        f32_in(inputs, 1),
        f32_in(inputs, 2),
        f32_out(outputs, 0),
    );
}
