//! Generates tonic + prost code for the same protos rgrpc's bench uses. Needs `protoc` on
//! PATH (or `PROTOC`); fine for a comparison crate that is not part of rgrpc's build.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["../../proto/bench.proto", "../../proto/helloworld.proto"];
    tonic_prost_build::configure().compile_protos(&protos, &["../../proto"])?;
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    Ok(())
}
