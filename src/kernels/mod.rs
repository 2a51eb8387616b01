//! Local kernels: the steps after the engine that SQL does badly. CPU here (rayon and a
//! blocked matrix product); `kernels/` holds the CUDA sources of the same steps.

pub mod corr;
