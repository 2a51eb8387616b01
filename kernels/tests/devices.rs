//! `--device` on any machine: without a driver or a GPU, `auto` says why it uses the CPU and
//! `cuda` is an error naming what is missing, never a panic; with one, both open it.

use heavytune_kernels::gpu::{DeviceChoice, GpuError, Selected, driver_present, select};

#[test]
fn auto_falls_back_with_a_reason_and_cuda_fails_with_one() {
    let auto = select(DeviceChoice::Auto).expect("auto never fails");
    let cuda = select(DeviceChoice::Cuda(0));
    match (&auto, &cuda) {
        (Selected::Cpu { reason }, Err(e)) => {
            assert!(reason.contains(&e.to_string()), "{reason} / {e}");
            if !driver_present() {
                assert_eq!(e, &GpuError::NoDriver);
                assert!(e.to_string().contains("--device cpu"), "{e}");
            }
        }
        (Selected::Gpu(_), Ok(Selected::Gpu(_))) => {}
        other => panic!("auto and cuda disagree: {other:?}"),
    }
    assert!(matches!(select(DeviceChoice::Cpu), Ok(Selected::Cpu { .. })));
}

#[test]
fn a_device_index_out_of_range_is_an_error() {
    let e = select(DeviceChoice::Cuda(4096)).unwrap_err();
    if driver_present() {
        assert!(
            matches!(e, GpuError::DeviceOutOfRange { index: 4096, .. } | GpuError::NoDevice | GpuError::NoNvrtc),
            "{e:?}"
        );
    } else {
        assert_eq!(e, GpuError::NoDriver);
    }
}
