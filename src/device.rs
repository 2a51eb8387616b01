//! Where the kernels run (`--device auto|cpu|cuda[:N]`) and what the run reports of it: the
//! GPU's description and the bytes moved per evaluation, or why the CPU ran them. The GPU
//! gives the CPU's bits (see `kernels/README.md`), so the choice changes speed, never results.

use std::sync::Arc;

use heavytune_kernels::Evaluator;
use heavytune_kernels::gpu::{self, DeviceChoice, DeviceReport, Gpu, GpuFitness, Selected, Traffic};

use crate::error::{Error, Result};

/// The kernels' device for one run.
#[derive(Debug)]
pub struct Device {
    /// Batch fitness on the GPU, when one is used.
    pub fitness: Option<GpuFitness>,
    reason: Option<String>,
}

/// What `results.json` and `--json` say of the device.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeviceSummary {
    /// `cpu` or `cuda:N`.
    pub used: String,
    /// Why the CPU ran the kernels (`--device cpu`, or no usable GPU under `auto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<DeviceReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic: Option<Traffic>,
    /// Host-device bytes per GPU evaluation, both ways, the panel's one upload aside.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_per_evaluation: Option<f64>,
    /// The first GPU failure; its batch and every later one ran on the CPU (same results).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_error: Option<String>,
}

/// The GPU `choice` resolves to, if any, and a line saying what runs the kernels: for the
/// steps that open their own buffers (the correlation product of `bench ab`).
pub fn select_gpu(choice: DeviceChoice) -> Result<(Option<Arc<Gpu>>, String)> {
    match gpu::select(choice).map_err(|e| Error::invalid("--device", format!("{choice}: {e}")))? {
        Selected::Cpu { reason } => Ok((None, format!("CPU ({reason})"))),
        Selected::Gpu(g) => {
            let r = g.report();
            let line =
                format!("GPU cuda:{} {} ({}, driver {}, NVRTC {})", r.ordinal, r.name, r.arch, r.driver, r.nvrtc);
            Ok((Some(g), line))
        }
    }
}

impl Device {
    /// Resolves `choice` and uploads `ev`'s data to the GPU when one is used. `cuda[:N]`
    /// without a usable GPU is an error; `auto` then runs on the CPU and says why.
    pub fn open(choice: DeviceChoice, ev: &Evaluator) -> Result<Device> {
        let invalid = |e: gpu::GpuError| Error::invalid("--device", format!("{choice}: {e}"));
        match gpu::select(choice).map_err(invalid)? {
            Selected::Cpu { reason } => Ok(Device { fitness: None, reason: Some(reason) }),
            Selected::Gpu(g) => match GpuFitness::new(Arc::clone(&g), ev) {
                Ok(f) => Ok(Device { fitness: Some(f), reason: None }),
                Err(e) if choice == DeviceChoice::Auto => {
                    Ok(Device { fitness: None, reason: Some(format!("the GPU could not take the data: {e}")) })
                }
                Err(e) => Err(invalid(e)),
            },
        }
    }

    /// What was used and moved, so far.
    pub fn summary(&self) -> DeviceSummary {
        match &self.fitness {
            None => DeviceSummary {
                used: "cpu".into(),
                cpu_reason: self.reason.clone(),
                gpu: None,
                traffic: None,
                bytes_per_evaluation: None,
                gpu_error: None,
            },
            Some(f) => {
                let traffic = f.traffic();
                DeviceSummary {
                    used: format!("cuda:{}", f.gpu().report().ordinal),
                    cpu_reason: None,
                    gpu: Some(f.gpu().report().clone()),
                    bytes_per_evaluation: Some(traffic.bytes_per_evaluation()),
                    traffic: Some(traffic),
                    gpu_error: f.first_error().map(|e| e.to_string()),
                }
            }
        }
    }
}

impl DeviceSummary {
    /// One line for the terminal.
    pub fn describe(&self) -> String {
        match (&self.gpu, &self.cpu_reason) {
            (Some(g), _) => format!(
                "GPU {} {} ({}, driver {}, NVRTC {}), {:.1} bytes moved per evaluation{}",
                self.used,
                g.name,
                g.arch,
                g.driver,
                g.nvrtc,
                self.bytes_per_evaluation.unwrap_or(0.0),
                self.gpu_error.as_ref().map(|e| format!("; GPU failed, the CPU took over: {e}")).unwrap_or_default()
            ),
            (None, Some(why)) => format!("CPU ({why})"),
            (None, None) => "CPU".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heavytune_kernels::{Metric, Penalty};

    #[test]
    fn cpu_choice_says_so_and_cuda_without_a_gpu_names_the_flag() {
        let ev = Evaluator::new(&[1.0, 2.0, 3.0, 4.0], 2, Metric::Ratio, Penalty::default(), None);
        let cpu = Device::open(DeviceChoice::Cpu, &ev).unwrap().summary();
        assert_eq!((cpu.used.as_str(), cpu.cpu_reason.as_deref()), ("cpu", Some("--device cpu")));
        assert_eq!(cpu.describe(), "CPU (--device cpu)");
        let auto = Device::open(DeviceChoice::Auto, &ev).unwrap().summary();
        if auto.gpu.is_none() {
            let e = Device::open(DeviceChoice::Cuda(0), &ev).unwrap_err();
            assert_eq!(e.class(), crate::error::ErrorClass::Usage);
            assert!(e.to_string().starts_with("invalid --device: cuda:0: no CUDA driver"), "{e}");
            assert!(auto.cpu_reason.unwrap().starts_with("no usable GPU: "));
        }
    }
}
