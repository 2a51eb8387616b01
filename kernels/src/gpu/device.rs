//! `--device auto|cpu|cuda[:N]` and opening a GPU. cudarc panics on the first call into a
//! CUDA library that is missing, so the driver and NVRTC are checked for before any call, and
//! every failure after that is a [`GpuError`], never a panic.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaContext, CudaFunction, CudaStream};
use cudarc::nvrtc::Ptx;

use super::GpuError;
use super::compile::{compile_cubin, nvrtc_present, nvrtc_version};
use crate::sources::Kernel;

/// Where the kernels run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// A GPU when one is usable (device 0), else the CPU, saying why.
    #[default]
    Auto,
    Cpu,
    /// GPU number N (`cuda` is `cuda:0`); an error when it cannot be used.
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = GpuError;

    fn from_str(s: &str) -> Result<Self, GpuError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| GpuError::BadChoice(s.to_owned())),
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl serde::Serialize for DeviceChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Whether the CUDA driver library can be loaded (no driver call is made).
pub fn driver_present() -> bool {
    // SAFETY: only tries to load the library.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// What a GPU is, for the run's report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeviceReport {
    pub ordinal: usize,
    pub name: String,
    /// e.g. "sm_90".
    pub arch: String,
    /// The driver's CUDA version, e.g. "13.0".
    pub driver: String,
    pub nvrtc: String,
    pub memory_bytes: usize,
}

/// An open GPU: its context, one stream, and the kernels compiled for it so far.
pub struct Gpu {
    pub(crate) ctx: Arc<CudaContext>,
    pub(crate) stream: Arc<CudaStream>,
    report: DeviceReport,
    functions: Mutex<HashMap<&'static str, CudaFunction>>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu").field("report", &self.report).finish_non_exhaustive()
    }
}

impl Gpu {
    /// Opens GPU `ordinal`.
    pub fn open(ordinal: usize) -> Result<Gpu, GpuError> {
        if !driver_present() {
            return Err(GpuError::NoDriver);
        }
        if !nvrtc_present() {
            return Err(GpuError::NoNvrtc);
        }
        let count = CudaContext::device_count().map_err(GpuError::driver("counting devices"))?;
        let count = usize::try_from(count).unwrap_or(0);
        if count == 0 {
            return Err(GpuError::NoDevice);
        }
        if ordinal >= count {
            return Err(GpuError::DeviceOutOfRange { index: ordinal, count });
        }
        let ctx = CudaContext::new(ordinal).map_err(GpuError::driver("opening the device"))?;
        let (major, minor) = ctx.compute_capability().map_err(GpuError::driver("reading the compute capability"))?;
        let mut version = 0;
        // SAFETY: the driver is loaded (checked above); the pointer is valid for writes.
        unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut version) }
            .result()
            .map_err(GpuError::driver("reading the driver version"))?;
        let (nv_major, nv_minor) = nvrtc_version()?;
        let report = DeviceReport {
            ordinal,
            name: ctx.name().map_err(GpuError::driver("reading the device name"))?,
            arch: format!("sm_{major}{minor}"),
            driver: format!("{}.{}", version / 1000, (version % 1000) / 10),
            nvrtc: format!("{nv_major}.{nv_minor}"),
            memory_bytes: ctx.total_mem().map_err(GpuError::driver("reading the device memory"))?,
        };
        let stream = ctx.default_stream();
        Ok(Gpu { ctx, stream, report, functions: Mutex::new(HashMap::new()) })
    }

    pub fn report(&self) -> &DeviceReport {
        &self.report
    }

    /// Free device memory in bytes.
    pub fn free_memory(&self) -> Result<usize, GpuError> {
        self.ctx.mem_get_info().map(|(free, _)| free).map_err(GpuError::driver("reading free memory"))
    }

    /// `kernel` compiled for this GPU's architecture (a cubin: no driver JIT), loaded once.
    pub(crate) fn function(&self, kernel: &'static Kernel) -> Result<CudaFunction, GpuError> {
        let mut functions = self.functions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = functions.get(kernel.name) {
            return Ok(f.clone());
        }
        let cubin = compile_cubin(kernel, &self.report.arch)?;
        let module = self.ctx.load_module(Ptx::from_binary(cubin)).map_err(|e| {
            let cause = e.to_string();
            if cause.contains("UNSUPPORTED_PTX_VERSION") || cause.contains("NO_BINARY_FOR_GPU") {
                GpuError::DriverTooOld { driver: self.report.driver.clone(), nvrtc: self.report.nvrtc.clone(), cause }
            } else {
                GpuError::Driver { what: "loading a kernel", cause }
            }
        })?;
        let f = module.load_function(kernel.name).map_err(GpuError::driver("finding a kernel"))?;
        functions.insert(kernel.name, f.clone());
        Ok(f)
    }
}

/// What `--device` resolved to.
#[derive(Debug)]
pub enum Selected {
    /// The CPU, and why (asked for, or no usable GPU under `auto`).
    Cpu {
        reason: String,
    },
    Gpu(Arc<Gpu>),
}

/// Resolves `--device`: `auto` falls back to the CPU with the reason, `cuda[:N]` fails with it.
pub fn select(choice: DeviceChoice) -> Result<Selected, GpuError> {
    match choice {
        DeviceChoice::Cpu => Ok(Selected::Cpu { reason: "--device cpu".into() }),
        DeviceChoice::Cuda(n) => Gpu::open(n).map(|g| Selected::Gpu(Arc::new(g))),
        DeviceChoice::Auto => Ok(match Gpu::open(0) {
            Ok(g) => Selected::Gpu(Arc::new(g)),
            Err(e) => Selected::Cpu { reason: format!("no usable GPU: {e}") },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_choices_parse_and_bad_ones_name_the_value() {
        assert_eq!("auto".parse::<DeviceChoice>(), Ok(DeviceChoice::Auto));
        assert_eq!("CPU".parse::<DeviceChoice>(), Ok(DeviceChoice::Cpu));
        assert_eq!("cuda".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda(0)));
        assert_eq!("cuda:3".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda(3)));
        for c in [DeviceChoice::Auto, DeviceChoice::Cpu, DeviceChoice::Cuda(2)] {
            assert_eq!(c.to_string().parse::<DeviceChoice>(), Ok(c));
        }
        let e = "cuda:x".parse::<DeviceChoice>().unwrap_err().to_string();
        assert!(e.contains("\"cuda:x\"") && e.contains("cuda:N"), "{e}");
    }
}
