// The N-API binding's link setup (feature `node`); nothing to do otherwise.
fn main() {
    #[cfg(feature = "node")]
    napi_build::setup();
}
