//! Generates the gRPC service `dfma.v1.Ccf` (see `proto/dfma.proto`) from Rust, so that
//! building the crate needs no `protoc`: the `Frame` message is a hand-written prost struct
//! (`src/transport/grpc.rs`) and this only writes tonic's client and server stubs around it.

fn main() {
    let connect = tonic_build::manual::Method::builder()
        .name("connect")
        .route_name("Connect")
        .input_type("crate::transport::grpc::Frame")
        .output_type("crate::transport::grpc::Frame")
        .codec_path("tonic_prost::ProstCodec")
        .client_streaming()
        .server_streaming()
        .build();
    let ccf = tonic_build::manual::Service::builder()
        .name("Ccf")
        .package("dfma.v1")
        .comment("One bidirectional stream of opaque frames per connected instance.")
        .method(connect)
        .build();
    tonic_build::manual::Builder::new().build_transport(false).compile(&[ccf]);
    println!("cargo::rerun-if-changed=build.rs");
}
