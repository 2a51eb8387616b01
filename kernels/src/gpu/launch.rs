//! Launch arguments checked against a kernel's signature ([`crate::sources::Kernel`]), the
//! same list the compile gate checks against the PTX: an argument of the wrong kind or a
//! missing one is an error before anything is launched.

use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, DeviceRepr, LaunchArgs, LaunchConfig, PushKernelArg};

use super::GpuError;
use crate::sources::{Kernel, Param};

pub(crate) struct Args<'a> {
    kernel: &'static Kernel,
    inner: LaunchArgs<'a>,
    pushed: usize,
    wrong: Option<String>,
}

impl<'a> Args<'a> {
    pub(crate) fn new(stream: &'a CudaStream, function: &'a CudaFunction, kernel: &'static Kernel) -> Self {
        Args { kernel, inner: stream.launch_builder(function), pushed: 0, wrong: None }
    }

    fn expect(&mut self, kind: Param) -> bool {
        let want = self.kernel.params.get(self.pushed).copied();
        if want != Some(kind) && self.wrong.is_none() {
            self.wrong = Some(format!("argument {} is {kind:?}, the kernel takes {want:?}", self.pushed));
        }
        self.pushed += 1;
        self.wrong.is_none()
    }

    pub(crate) fn buffer<T>(&mut self, b: &'a CudaSlice<T>) -> &mut Self {
        if self.expect(Param::Ptr) {
            self.inner.arg(b);
        }
        self
    }

    pub(crate) fn buffer_mut<T>(&mut self, b: &'a mut CudaSlice<T>) -> &mut Self {
        if self.expect(Param::Ptr) {
            self.inner.arg(b);
        }
        self
    }

    pub(crate) fn int(&mut self, v: &'a i32) -> &mut Self {
        self.scalar(Param::I32, v)
    }

    pub(crate) fn real(&mut self, v: &'a f64) -> &mut Self {
        self.scalar(Param::F64, v)
    }

    fn scalar<T: DeviceRepr>(&mut self, kind: Param, v: &'a T) -> &mut Self {
        if self.expect(kind) {
            self.inner.arg(v);
        }
        self
    }

    /// Launches, once every parameter has its argument of the right kind.
    pub(crate) fn launch(&mut self, config: LaunchConfig) -> Result<(), GpuError> {
        let fail = |message: String| GpuError::Launch { kernel: self.kernel.name, message };
        if let Some(wrong) = &self.wrong {
            return Err(fail(wrong.clone()));
        }
        if self.pushed != self.kernel.params.len() {
            return Err(fail(format!("{} arguments for {} parameters", self.pushed, self.kernel.params.len())));
        }
        // SAFETY: the arguments match the kernel's parameter list (checked above; the list
        // itself is checked against the compiled PTX by the compile-gate test), and every
        // buffer outlives the launch (borrowed for 'a; callers synchronise before reading).
        unsafe { self.inner.launch(config) }
            .map(|_| ())
            .map_err(|e| GpuError::Launch { kernel: self.kernel.name, message: e.to_string() })
    }
}
