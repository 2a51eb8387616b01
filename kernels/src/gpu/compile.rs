//! NVRTC: the kernels' sources to PTX (the compile gate checks it with `ptxas`) and to cubins
//! for the GPU at hand (no driver JIT, so a driver older than NVRTC still loads them).
//!
//! Every kernel is compiled with `--fmad=false`: no multiply-add contraction, so each
//! operation rounds as the CPU's does and the GPU gives the CPU's bits.

use std::ffi::CString;

use cudarc::nvrtc::{result, sys};

use super::GpuError;
use crate::sources::{Kernel, Param, program};

/// The architectures the compile gate checks (A100 and H100 class); a GPU at hand gets code
/// for its own architecture.
pub const SHIPPED_ARCHS: [&str; 2] = ["sm_80", "sm_90"];

/// Whether NVRTC can be loaded. cudarc panics on the first call into a missing library, so
/// every NVRTC call here is behind this check.
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to load the library; no NVRTC function is called.
    unsafe { sys::is_culib_present() }
}

/// NVRTC's version, (major, minor).
pub fn nvrtc_version() -> Result<(i32, i32), GpuError> {
    if !nvrtc_present() {
        return Err(GpuError::NoNvrtc);
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: NVRTC is present; the pointers are valid for writes.
    unsafe { sys::nvrtcVersion(&mut major, &mut minor) }.result().map_err(|e| GpuError::Compile {
        file: "nvrtcVersion",
        arch: String::new(),
        log: format!("{e:?}"),
    })?;
    Ok((major, minor))
}

/// What NVRTC hands back.
enum Output {
    Ptx,
    Cubin,
}

fn nvrtc(kernel: &Kernel, arch: &str, output: Output) -> Result<Vec<u8>, GpuError> {
    if !nvrtc_present() {
        return Err(GpuError::NoNvrtc);
    }
    let fail = |log: String| GpuError::Compile { file: kernel.file, arch: arch.to_owned(), log };
    let source = CString::new(program(kernel)).map_err(|e| fail(e.to_string()))?;
    let name = CString::new(kernel.file).map_err(|e| fail(e.to_string()))?;
    let prog = result::create_program(&source, Some(&name)).map_err(|e| fail(format!("{e:?}")))?;
    let options = [format!("--gpu-architecture={arch}"), "--fmad=false".into(), "--std=c++17".into()];
    // SAFETY: `prog` was created above and is destroyed once, below; `source` and `name`
    // outlive it.
    unsafe {
        let compiled = result::compile_program(prog, &options);
        let out = match compiled {
            Err(e) => {
                let log = result::get_program_log(prog).map(|l| c_text(&l)).unwrap_or_default();
                Err(fail(format!("{e:?}\n{log}")))
            }
            Ok(()) => match output {
                Output::Ptx => {
                    result::get_ptx(prog).map(|p| c_text(&p).into_bytes()).map_err(|e| fail(format!("{e:?}")))
                }
                Output::Cubin => cubin(prog).map_err(|e| fail(format!("{e:?}"))),
            },
        };
        let _ = result::destroy_program(prog);
        out
    }
}

/// # Safety
/// `prog` is a compiled, live NVRTC program.
unsafe fn cubin(prog: sys::nvrtcProgram) -> Result<Vec<u8>, result::NvrtcError> {
    let mut size = 0usize;
    unsafe { sys::nvrtcGetCUBINSize(prog, &mut size) }.result()?;
    let mut bytes = vec![0u8; size];
    unsafe { sys::nvrtcGetCUBIN(prog, bytes.as_mut_ptr().cast()) }.result()?;
    Ok(bytes)
}

fn c_text(chars: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = chars.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The PTX of `kernel` for a real architecture such as `sm_90` (NVRTC targets its virtual
/// twin, `compute_90`); the NVRTC log is in the error.
pub fn compile_ptx(kernel: &Kernel, arch: &str) -> Result<String, GpuError> {
    let virtual_arch = arch.replacen("sm_", "compute_", 1);
    let bytes = nvrtc(kernel, &virtual_arch, Output::Ptx)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The cubin of `kernel` for a real architecture such as `sm_90`.
pub fn compile_cubin(kernel: &Kernel, arch: &str) -> Result<Vec<u8>, GpuError> {
    nvrtc(kernel, arch, Output::Cubin)
}

/// The parameter kinds of entry point `name` as the PTX declares them, or None when the PTX
/// has no such entry (or a parameter of another kind).
pub fn entry_params(ptx: &str, name: &str) -> Option<Vec<Param>> {
    let start = ptx.find(&format!(".entry {name}("))?;
    let rest = &ptx[start..];
    let list = &rest[rest.find('(')? + 1..rest.find(')')?];
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_whitespace().nth(1)? {
            ".u64" | ".b64" | ".s64" => Some(Param::Ptr),
            ".u32" | ".s32" | ".b32" => Some(Param::I32),
            ".f64" => Some(Param::F64),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_parameters_are_read_from_ptx() {
        let ptx = ".visible .entry k(\n\t.param .u64 .ptr .align 1 k_param_0,\n\t.param .u32 k_param_1,\n\t.param .f64 k_param_2\n)\n{";
        assert_eq!(entry_params(ptx, "k"), Some(vec![Param::Ptr, Param::I32, Param::F64]));
        assert_eq!(entry_params(ptx, "other"), None);
        assert_eq!(entry_params(".entry k(\n\t.param .f32 k_param_0\n)", "k"), None);
    }
}
