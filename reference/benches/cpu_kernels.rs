//! criterion benches of the fast CPU kernels, on fresh random inputs of real model shapes.
//! Throughput is the op's cost-model bytes (these kernels are memory bound), so criterion
//! reports GB/s. `cargo test --benches` runs each once as a smoke test.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dfma_reference::cpu::{calibration, q8_0_gemv};
use dfma_reference::ops::q8_0_gemv::{Q8_0Gemv, dims};
use dfma_reference::ops::stream_read::StreamRead;
use dfma_reference::seed::rng_for;
use dfma_reference::{Op, TensorData};

fn q8_0(c: &mut Criterion) {
    let mut group = c.benchmark_group("q8_0_gemv");
    for (rows, cols, batch) in [(4096, 4096, 1), (14336, 4096, 1), (4096, 4096, 4)] {
        let d = dims(rows, cols, batch);
        let inputs = Q8_0Gemv.random_inputs(&d, &mut rng_for(1, 0));
        let (w, x) = (inputs[0].as_u8().expect("u8"), inputs[1].as_f32().expect("f32"));
        let mut y = vec![f32::NAN; rows * batch];
        group.throughput(Throughput::Bytes(Q8_0Gemv.cost(&d).bytes));
        group.bench_with_input(BenchmarkId::from_parameter(format!("{rows}x{cols}x{batch}")), &d, |b, _| {
            b.iter(|| q8_0_gemv::q8_0_gemv(w, x, &mut y, rows, cols, batch))
        });
    }
    group.finish();
}

fn streams(c: &mut Criterion) {
    let d = dfma_reference::ops::stream_read::dims(32 << 20);
    let inputs = StreamRead.random_inputs(&d, &mut rng_for(1, 1));
    let TensorData::F32(x) = &inputs[0].data else { unreachable!("stream_read input is f32") };
    let mut group = c.benchmark_group("calibration");
    group.sample_size(10);
    let mut sums = vec![0.0f32; x.len().div_ceil(4096)];
    group.throughput(Throughput::Bytes(StreamRead.cost(&d).bytes));
    group.bench_function("stream_read_128MiB", |b| b.iter(|| calibration::stream_read(x, &mut sums)));
    let mut copy = vec![0.0f32; x.len()];
    group.throughput(Throughput::Bytes(8 * x.len() as u64));
    group.bench_function("stream_copy_128MiB", |b| b.iter(|| calibration::stream_copy(x, &mut copy)));
    group.finish();
}

criterion_group!(benches, q8_0, streams);
criterion_main!(benches);
