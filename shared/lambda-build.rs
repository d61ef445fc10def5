//! The build script of every Lambda binary (the functions and the cold-start baseline): link it as
//! a position-dependent executable. A position-independent one makes the loader apply 20,000 to
//! 55,000 relative relocations (vtables, static string tables) at every start, copying 330-730 KB
//! of pages: half of a function's page faults at start-up. The code is still compiled
//! position-independent, and shared libraries, the heap and the stack keep their random addresses;
//! only the executable image loads at a fixed address, as Go's Lambda binaries do. See
//! docs/performance.md.

#[expect(
    clippy::print_stdout,
    reason = "a build script speaks to cargo on stdout"
)]
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
