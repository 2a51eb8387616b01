//! The GPU path: the kernels of `cuda/` compiled by NVRTC at run time and launched through
//! cudarc, with every CUDA library loaded dynamically, so that a machine without a GPU, a
//! driver or NVRTC builds the same binary and runs the CPU path.
//!
//! - [`compile`]: NVRTC, the kernels' PTX and cubins, the entry points' parameter lists.
//! - [`device`]: `--device auto|cpu|cuda[:N]`, opening a GPU (never a panic when a library or
//!   a device is missing), what it is (the device report).
//! - [`launch`]: launch arguments checked against the kernels' signatures.
//! - [`fitness`]: batch fitness and swap moves on the GPU, the P&L rows uploaded once, bytes
//!   moved counted.
//! - [`corr`]: the correlation product `Z Z^T` through cuBLAS, streamed in blocks of rows.

pub mod compile;
pub mod corr;
pub mod device;
pub mod fitness;
mod launch;

pub use compile::{SHIPPED_ARCHS, compile_ptx, entry_params, nvrtc_present, nvrtc_version};
pub use corr::GpuCorr;
pub use device::{DeviceChoice, DeviceReport, Gpu, Selected, driver_present, select};
pub use fitness::{GpuFitness, Traffic};

/// Why the GPU path cannot run; each names what to install or change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GpuError {
    #[error("no CUDA driver on this machine (libcuda.so.1 not found); use --device cpu")]
    NoDriver,
    #[error(
        "NVRTC not found (libnvrtc.so.13): install the CUDA 13 NVRTC (for example `pip install nvidia-cuda-nvrtc`) and put its lib folder on LD_LIBRARY_PATH, or use --device cpu"
    )]
    NoNvrtc,
    #[error("no CUDA device on this machine; use --device cpu")]
    NoDevice,
    #[error("--device cuda:{index}: this machine has {count} CUDA device(s), numbered from 0")]
    DeviceOutOfRange { index: usize, count: usize },
    #[error("invalid --device {0:?}: expected auto, cpu, cuda or cuda:N")]
    BadChoice(String),
    #[error("NVRTC could not compile {file} for {arch}:\n{log}")]
    Compile { file: &'static str, arch: String, log: String },
    #[error(
        "the CUDA driver ({driver}) cannot load code from NVRTC {nvrtc}: update the GPU driver, or use --device cpu ({cause})"
    )]
    DriverTooOld { driver: String, nvrtc: String, cause: String },
    #[error("CUDA {what}: {cause}")]
    Driver { what: &'static str, cause: String },
    #[error("cuBLAS {what}: {cause}")]
    Cublas { what: &'static str, cause: String },
    #[error("kernel {kernel}: {message}")]
    Launch { kernel: &'static str, message: String },
}

impl GpuError {
    pub(crate) fn driver(what: &'static str) -> impl FnOnce(cudarc::driver::DriverError) -> GpuError {
        move |e| GpuError::Driver { what, cause: e.to_string() }
    }
}
