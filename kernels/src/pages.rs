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

/// The values a buffer needs beyond its own to move up to a 2 MiB boundary and pad its last
/// page: two pages' worth.
const ROOM: usize = 2 * HUGE / std::mem::size_of::<f64>();

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

    /// `len` zeros laid out for [`HugeVec::moved`]: with room to move to a 2 MiB boundary
    /// without reallocating, and every 2 MiB page of the buffer asked for (`MADV_HUGEPAGE`)
    /// before anything touches it. The writes that fill it then fault in huge pages directly,
    /// and [`HugeVec::advise`] later finds nothing left to collapse. Collapsing pages that are
    /// already there (`MADV_COLLAPSE`) copies them into huge ones under the process's
    /// memory-map lock, compacting memory first where no huge page is free: 3-44 ms at
    /// production shape on a 2-core guest, every thread that maps or faults memory waiting
    /// meanwhile. Plain zeros where the buffer is small or the OS is not Linux.
    pub fn zeroed(len: usize) -> Vec<f64> {
        if !cfg!(target_os = "linux") || len * std::mem::size_of::<f64>() < MIN_BYTES {
            return vec![0.0; len];
        }
        // Zeros of a fresh allocation are the OS's untouched zero pages (calloc), so the
        // advice still comes before the first write.
        let mut values = vec![0.0f64; len + ROOM];
        let start = values.as_ptr() as usize;
        let first = start.next_multiple_of(HUGE);
        let end = (start + values.len() * std::mem::size_of::<f64>()) / HUGE * HUGE;
        if end > first {
            sys::huge_pages_on_fault(first, end - first);
        }
        values.truncate(len);
        values
    }

    /// The first step of [`HugeVec::new`]: the values moved to a 2 MiB boundary, where they
    /// stay, but no huge pages asked for yet ([`HugeVec::advise`] does that).
    pub fn moved(mut values: Vec<f64>) -> HugeVec {
        let len = values.len();
        if !cfg!(target_os = "linux") || std::mem::size_of_val(values.as_slice()) < MIN_BYTES {
            return HugeVec { buf: values, offset: 0, len, range: (0, 0), pages: AtomicUsize::new(0) };
        }
        // Room to move up by less than a page and to pad the last page (none needed for a
        // buffer from [`HugeVec::zeroed`]; another is usually grown in place, by remapping,
        // or else copied once).
        values.reserve_exact(ROOM);
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

    /// `MADV_HUGEPAGE` alone: the range's later faults get huge pages; true when taken.
    pub(super) fn huge_pages_on_fault(addr: usize, len: usize) -> bool {
        // SAFETY: as for `advise`: a page-aligned range inside a live buffer of the caller's;
        // the advice changes neither its contents nor its mapping's validity.
        unsafe { madvise(addr as *mut c_void, len, MADV_HUGEPAGE) == 0 }
    }

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
    pub(super) fn huge_pages_on_fault(_addr: usize, _len: usize) -> bool {
        false
    }

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

    /// A buffer made for huge pages holds zeros with room to move, so moving it onto its
    /// 2 MiB boundary keeps its allocation (the values move up by less than a page).
    #[test]
    fn a_buffer_made_for_huge_pages_moves_within_itself() {
        let len = MIN_BYTES / 8 + 300_001;
        let mut v = HugeVec::zeroed(len);
        assert_eq!(v.len(), len);
        assert!(v.iter().all(|&x| x == 0.0));
        if cfg!(target_os = "linux") {
            assert!(v.capacity() >= len + ROOM, "room for the move");
        }
        v.iter_mut().enumerate().for_each(|(i, x)| *x = i as f64 * 0.5);
        let start = v.as_ptr() as usize;
        let h = HugeVec::moved(v);
        let at = h.as_slice().as_ptr() as usize;
        assert!((start..start + HUGE).contains(&at), "moved within its own allocation");
        assert!(h.as_slice().iter().enumerate().all(|(i, &x)| x == i as f64 * 0.5));
        // Small buffers are plain zeros.
        assert_eq!(HugeVec::zeroed(10), vec![0.0; 10]);
    }
}
