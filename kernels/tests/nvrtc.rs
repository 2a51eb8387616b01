//! The compile gate, on every test run, GPU or not: NVRTC (from PyPI, installed by `.ci/test`)
//! compiles every kernel for the architectures we ship; each entry point's parameter list in
//! the PTX is the one the Rust launch code checks its arguments against; `ptxas -v` assembles
//! each without register spills. A missing NVRTC or ptxas fails these tests, never skips them.

use std::path::PathBuf;
use std::process::Command;

use heavytune_kernels::gpu::{GpuError, SHIPPED_ARCHS, compile_ptx, entry_params, nvrtc_present, nvrtc_version};
use heavytune_kernels::sources::{KERNELS, Kernel, Param};

fn require_nvrtc() {
    assert!(
        nvrtc_present(),
        "NVRTC (libnvrtc.so.13) not found: run the tests through `bash .ci/test`, which installs \
         nvidia-cuda-nvrtc into a virtual environment and puts it on LD_LIBRARY_PATH"
    );
}

fn ptxas() -> PathBuf {
    let path = std::env::var_os("HEAVYTUNE_PTXAS").map(PathBuf::from).expect(
        "HEAVYTUNE_PTXAS is not set: run the tests through `bash .ci/test`, which installs ptxas \
         (nvidia-cuda-nvcc) and names it",
    );
    assert!(path.is_file(), "HEAVYTUNE_PTXAS={} is not a file", path.display());
    path
}

#[test]
fn every_kernel_compiles_for_the_shipped_architectures_without_spills() {
    require_nvrtc();
    let ptxas = ptxas();
    let (major, _) = nvrtc_version().unwrap();
    assert_eq!(major, 13, "the bindings are CUDA 13's");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("nvrtc");
    std::fs::create_dir_all(&dir).unwrap();
    for kernel in KERNELS {
        for arch in SHIPPED_ARCHS {
            let ptx = compile_ptx(&kernel, arch).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                entry_params(&ptx, kernel.name).as_deref(),
                Some(kernel.params),
                "{} for {arch}: the PTX's parameters differ from the launch code's",
                kernel.name
            );
            let file = dir.join(format!("{}_{arch}.ptx", kernel.name));
            std::fs::write(&file, &ptx).unwrap();
            let out = Command::new(&ptxas)
                .args(["-v", &format!("-arch={arch}"), "-o", "/dev/null"])
                .arg(&file)
                .output()
                .expect("ptxas must start");
            let log = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "ptxas failed on {} for {arch}:\n{log}", kernel.name);
            let spills: Vec<&str> = log.lines().filter(|l| l.contains("spill")).collect();
            assert!(!spills.is_empty(), "ptxas -v printed no spill counts for {} ({arch}):\n{log}", kernel.name);
            for line in spills {
                let spilled = line
                    .split(',')
                    .filter(|part| part.contains("spill"))
                    .any(|part| part.split_whitespace().next() != Some("0"));
                assert!(!spilled, "{} spills registers on {arch}: {line}", kernel.name);
            }
            // --fmad=false: no multiply-add contraction, so every product rounds as the CPU's.
            assert!(!ptx.contains("fma."), "{} for {arch} has fused multiply-adds", kernel.name);
        }
    }
}

#[test]
fn a_kernel_that_does_not_compile_reports_the_nvrtc_log() {
    require_nvrtc();
    const BROKEN: Kernel = Kernel {
        name: "ht_broken",
        params: &[Param::Ptr],
        source: "extern \"C\" __global__ void ht_broken(double* out) { out[0] = undeclared_name; }",
        file: "broken.cu",
    };
    let err = compile_ptx(&BROKEN, "sm_90").unwrap_err();
    assert!(matches!(err, GpuError::Compile { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("broken.cu") && text.contains("undeclared_name"), "{text}");
}
