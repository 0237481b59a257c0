//! Compiles `proto/strata/cache/v1/cache.proto` with protox (pure Rust:
//! no system `protoc`, so a fresh clone builds offline) into tonic server
//! and client code, plus its encoded descriptor set for gRPC reflection;
//! and Strata's declaration of `google.bytestream` with `bytes::Bytes`
//! data fields (zero-copy blob reads).

use protox::prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/strata/cache/v1/cache.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("strata_cache_v1.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    let bytestream = "proto/google/bytestream/bytestream.proto";
    println!("cargo:rerun-if-changed={bytestream}");
    let fds = protox::compile([bytestream], ["proto"])?;
    std::fs::write(out.join("google_bytestream.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .bytes(".google.bytestream")
        .compile_fds(fds)?;
    Ok(())
}
