//! Large buffers of values on 2 MiB pages. The batch fitness reads rows at random across the
//! whole P&L buffer (16.8 MB at production shape); on 4 KiB pages most of those reads also
//! miss the TLB, and the page walks cost a good part of what the rows themselves cost
//! (`benches/cpu_layout.rs`). Linux backs a range with transparent huge pages on request
//! (`madvise`: `MADV_HUGEPAGE`, then `MADV_COLLAPSE` to move what is already there at once).
//! A hint: the values do not change, and where it is refused (another OS, an older kernel,
//! THP off) the buffer stays on small pages.

/// Buffers smaller than this are left alone: they stay in the caches, or would not fill
/// enough 2 MiB pages to matter.
pub const MIN_BYTES: usize = 8 << 20;

use std::sync::atomic::{AtomicUsize, Ordering};

const HUGE: usize = 2 << 20;

/// Values on 2 MiB pages: the vector is moved up inside its own allocation so that the values
/// start at a 2 MiB boundary, and every 2 MiB page they touch is asked to be a huge page (so
/// no row falls on small pages at either end). The room for the move and the last page's
/// padding cost at most 2 MiB of memory each.
#[derive(Debug)]
pub struct HugeVec {
    buf: Vec<f64>,
    /// Where the values start in `buf`.
    offset: usize,
    len: usize,
    /// The 2 MiB-aligned address range to ask huge pages for (empty when none).
    range: (usize, usize),
    /// How many 2 MiB pages the OS gave, once asked ([`HugeVec::advise`]).
    pages: AtomicUsize,
}

impl HugeVec {
    /// Takes `values` as they are when they are under [`MIN_BYTES`] or the OS is not Linux;
    /// otherwise moves them to a 2 MiB boundary and asks for huge pages.
    pub fn new(values: Vec<f64>) -> HugeVec {
        let h = HugeVec::moved(values);
        h.advise();
        h
    }

    /// The first step of [`HugeVec::new`]: the values moved to a 2 MiB boundary, where they
    /// stay, but no huge pages asked for yet ([`HugeVec::advise`] does that).
    pub fn moved(mut values: Vec<f64>) -> HugeVec {
        let len = values.len();
        if !cfg!(target_os = "linux") || std::mem::size_of_val(values.as_slice()) < MIN_BYTES {
            return HugeVec { buf: values, offset: 0, len, range: (0, 0), pages: AtomicUsize::new(0) };
        }
        let per_page = HUGE / std::mem::size_of::<f64>();
        // Room to move up by less than a page and to pad the last page (a buffer this large
        // is usually grown in place, by remapping; otherwise it is copied once).
        values.reserve_exact(2 * per_page);
        let start = values.as_ptr() as usize;
        let offset = (start.next_multiple_of(HUGE) - start) / std::mem::size_of::<f64>();
        values.resize(offset + len, 0.0);
        values.copy_within(0..len, offset);
        let first = start + offset * std::mem::size_of::<f64>();
        let end = (first + len * std::mem::size_of::<f64>())
            .next_multiple_of(HUGE)
            .min((start + values.capacity() * std::mem::size_of::<f64>()) / HUGE * HUGE);
        HugeVec { buf: values, offset, len, range: (first, end.max(first)), pages: AtomicUsize::new(0) }
    }

    /// The second step of [`HugeVec::new`]: asks the OS to back the values with 2 MiB pages.
    /// The values keep their contents and addresses, so others may read them meanwhile (the
    /// kernel moves each range onto its huge page under its own locks).
    pub fn advise(&self) {
        let (first, end) = self.range;
        if end > first && sys::advise(first, end - first) {
            self.pages.store((end - first) / HUGE, Ordering::Relaxed);
        }
    }

    pub fn as_slice(&self) -> &[f64] {
        &self.buf[self.offset..self.offset + self.len]
    }

    /// How many 2 MiB pages the OS gave (0 when it refused or the values are small).
    pub fn huge_pages(&self) -> usize {
        self.pages.load(Ordering::Relaxed)
    }

    /// The values as a plain vector again (moved back down: one copy within the buffer).
    pub fn into_vec(self) -> Vec<f64> {
        let HugeVec { mut buf, offset, len, .. } = self;
        if offset > 0 {
            buf.copy_within(offset..offset + len, 0);
        }
        buf.truncate(len);
        buf
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use std::ffi::{c_int, c_void};

    unsafe extern "C" {
        fn madvise(addr: *mut c_void, len: usize, advice: c_int) -> c_int;
    }

    const MADV_HUGEPAGE: c_int = 14;
    const MADV_COLLAPSE: c_int = 25;

    /// `MADV_HUGEPAGE` (later faults get huge pages) then `MADV_COLLAPSE` (the pages already
    /// there become huge pages now); true when both were taken.
    pub(super) fn advise(addr: usize, len: usize) -> bool {
        // SAFETY: `addr..addr + len` lies inside a live buffer of the caller's (page-aligned, as
        // both calls need). Neither advice changes the memory's contents or its mapping's
        // validity: the kernel copies the small pages into a huge one and maps that instead.
        unsafe {
            madvise(addr as *mut c_void, len, MADV_HUGEPAGE) == 0
                && madvise(addr as *mut c_void, len, MADV_COLLAPSE) == 0
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    pub(super) fn advise(_addr: usize, _len: usize) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_order_and_come_back_whether_or_not_they_move() {
        let small: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        let h = HugeVec::new(small.clone());
        assert_eq!((h.huge_pages(), h.as_slice()), (0, small.as_slice()));
        assert_eq!(h.into_vec(), small);
        let big: Vec<f64> = (0..(MIN_BYTES / 8 + 300_001)).map(|i| i as f64 * 0.25).collect();
        let h = HugeVec::new(big.clone());
        assert_eq!(h.as_slice(), big.as_slice());
        // Whether the OS takes the advice depends on the machine (THP settings, kernel
        // version); the values must start on a 2 MiB boundary there either way, and never
        // be claimed on more pages than they span.
        if cfg!(target_os = "linux") {
            assert_eq!(h.as_slice().as_ptr() as usize % HUGE, 0);
        }
        assert!(h.huge_pages() <= std::mem::size_of_val(big.as_slice()).div_ceil(HUGE));
        assert_eq!(h.into_vec(), big);
        // In two steps: the values are in place before any page is asked for, and stay.
        let h = HugeVec::moved(big.clone());
        let before = h.as_slice().as_ptr();
        assert_eq!((h.huge_pages(), h.as_slice()), (0, big.as_slice()));
        h.advise();
        assert_eq!((h.as_slice().as_ptr(), h.as_slice()), (before, big.as_slice()));
        assert_eq!(h.into_vec(), big);
    }
}
