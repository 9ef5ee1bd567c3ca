//! Running the suite inside other, real kernels under qemu: the kernel cache, the guest's
//! initramfs and the modules a disk needs, qemu itself, the harness's life as PID 1, and the
//! matrix that ties them together.

pub mod bench;
pub mod guest;
pub mod initramfs;
pub mod kernel;
pub mod matrix;
pub mod modules;
pub mod qemu;
