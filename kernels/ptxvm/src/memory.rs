//! Memory of a launch.
//!
//! - Global: host buffers copied into word-aligned storage, each at a synthetic 64-bit device
//!   address with an unmapped guard gap after it, so an access past the end of one buffer never
//!   lands in the next. Blocks run in parallel; every global access is a relaxed atomic of the
//!   access's width (a plain `mov` on x86), so concurrent blocks never make the host program
//!   undefined, and `atom`/`red` are real read-modify-write atomics.
//! - Shared: one byte array per block plus a bit per byte recording whether any thread wrote it,
//!   so reading never-written shared memory is an error instead of a silent zero.
//! - Generic addresses: the shared and local windows sit at fixed bases far from global memory.

use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering::Relaxed};

use crate::error::Fault;
use crate::inst::AtomOp;
use crate::ty::Ty;

/// First global buffer's device address.
pub const GLOBAL_BASE: u64 = 0x0000_7000_0000_0000;
/// Generic address of shared offset 0.
pub const SHARED_WINDOW: u64 = 0x0000_5000_0000_0000;
/// Generic address of local offset 0.
pub const LOCAL_WINDOW: u64 = 0x0000_6000_0000_0000;
const WINDOW_SIZE: u64 = 1 << 32;
const GUARD: u64 = 1 << 16;

/// Where the buffer after one at `base` of `len` bytes goes: deterministic, so module `.global`
/// variables (allocated first in every launch) have addresses known at decode time.
pub fn next_base(base: u64, len: u64) -> u64 {
    (base + len + GUARD).next_multiple_of(256)
}

/// Which window a generic address falls in.
pub enum Generic {
    /// A global address.
    Global(u64),
    /// A shared-space offset.
    Shared(u64),
    /// A local-space offset.
    Local(u64),
}

/// Classifies a generic address.
#[inline]
pub fn generic(addr: u64) -> Generic {
    if addr.wrapping_sub(SHARED_WINDOW) < WINDOW_SIZE {
        Generic::Shared(addr - SHARED_WINDOW)
    } else if addr.wrapping_sub(LOCAL_WINDOW) < WINDOW_SIZE {
        Generic::Local(addr - LOCAL_WINDOW)
    } else {
        Generic::Global(addr)
    }
}

struct Buf {
    base: u64,
    len: u64,
    words: Box<[AtomicU64]>,
}

/// Global memory: the launch's buffers.
#[derive(Default)]
pub struct Global {
    bufs: Vec<Buf>,
}

impl Global {
    /// Copies `bytes` into a new buffer and returns its device address (256-byte aligned).
    pub fn alloc(&mut self, bytes: &[u8]) -> u64 {
        let base = self.bufs.last().map_or(GLOBAL_BASE, |b| next_base(b.base, b.len));
        let words: Box<[AtomicU64]> = (0..bytes.len().div_ceil(8).max(1))
            .map(|i| {
                let mut w = [0u8; 8];
                let chunk = &bytes[(i * 8).min(bytes.len())..(i * 8 + 8).min(bytes.len())];
                w[..chunk.len()].copy_from_slice(chunk);
                AtomicU64::new(u64::from_le_bytes(w))
            })
            .collect();
        self.bufs.push(Buf { base, len: bytes.len() as u64, words });
        base
    }

    /// The bytes of the buffer at `addr` (as returned by [`Global::alloc`]).
    pub fn read(&self, addr: u64) -> Option<Vec<u8>> {
        let b = self.bufs.iter().find(|b| b.base == addr)?;
        let mut out: Vec<u8> = b.words.iter().flat_map(|w| w.load(Relaxed).to_le_bytes()).collect();
        out.truncate(b.len as usize);
        Some(out)
    }

    /// Overwrites the buffer at `addr` with `bytes` (same length).
    pub fn write(&self, addr: u64, bytes: &[u8]) -> bool {
        let Some(b) = self.bufs.iter().find(|b| b.base == addr && b.len == bytes.len() as u64) else {
            return false;
        };
        for (i, w) in b.words.iter().enumerate() {
            let mut v = [0u8; 8];
            let chunk = &bytes[(i * 8).min(bytes.len())..(i * 8 + 8).min(bytes.len())];
            v[..chunk.len()].copy_from_slice(chunk);
            w.store(u64::from_le_bytes(v), Relaxed);
        }
        true
    }

    #[inline]
    fn locate(&self, addr: u64, size: u64, what: &str) -> Result<*const u8, Fault> {
        for b in &self.bufs {
            let off = addr.wrapping_sub(b.base);
            if off < b.len {
                if off + size > b.len {
                    break;
                }
                // SAFETY: off + size <= len <= 8 * words.len(), so the pointer stays inside the slice.
                return Ok(unsafe { (b.words.as_ptr() as *const u8).add(off as usize) });
            }
        }
        Err(Fault::Memory(format!("out-of-bounds global {what} of {size} bytes at {addr:#x} (no buffer holds it)")))
    }

    /// Loads `size` (1, 2, 4, 8) bytes, zero-extended.
    #[inline]
    pub fn load(&self, addr: u64, size: u32) -> Result<u64, Fault> {
        let p = self.locate(addr, u64::from(size), "load")?;
        // SAFETY: `p` is inside a live AtomicU64 slice and aligned to `size` (callers check the
        // natural alignment; buffer bases are 256-aligned); atomics make concurrent access defined.
        Ok(unsafe { load_at(p, size) })
    }

    /// Stores the low `size` bytes of `v`.
    #[inline]
    pub fn store(&self, addr: u64, size: u32, v: u64) -> Result<(), Fault> {
        let p = self.locate(addr, u64::from(size), "store")?;
        // SAFETY: as in `load`.
        unsafe { store_at(p, size, v) };
        Ok(())
    }

    /// An atomic read-modify-write; returns the old value.
    pub fn atomic(&self, addr: u64, op: AtomOp, ty: Ty, a: u64, b: u64) -> Result<u64, Fault> {
        let size = ty.bytes();
        let p = self.locate(addr, u64::from(size), "atomic")?;
        // SAFETY: as in `load`; only 4- and 8-byte atomics reach here (decode rejects others).
        Ok(unsafe { rmw_at(p, size, op, ty, a, b) })
    }
}

/// # Safety
/// `p` must point into live memory owned by atomics, aligned to `size`.
#[inline]
unsafe fn load_at(p: *const u8, size: u32) -> u64 {
    // SAFETY: forwarded from the caller.
    unsafe {
        match size {
            1 => u64::from(AtomicU8::from_ptr(p as *mut u8).load(Relaxed)),
            2 => u64::from(AtomicU16::from_ptr(p as *mut u16).load(Relaxed)),
            4 => u64::from(AtomicU32::from_ptr(p as *mut u32).load(Relaxed)),
            _ => AtomicU64::from_ptr(p as *mut u64).load(Relaxed),
        }
    }
}

/// # Safety
/// As [`load_at`].
#[inline]
unsafe fn store_at(p: *const u8, size: u32, v: u64) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match size {
            1 => AtomicU8::from_ptr(p as *mut u8).store(v as u8, Relaxed),
            2 => AtomicU16::from_ptr(p as *mut u16).store(v as u16, Relaxed),
            4 => AtomicU32::from_ptr(p as *mut u32).store(v as u32, Relaxed),
            _ => AtomicU64::from_ptr(p as *mut u64).store(v, Relaxed),
        }
    }
}

/// # Safety
/// As [`load_at`], with `size` 4 or 8.
unsafe fn rmw_at(p: *const u8, size: u32, op: AtomOp, ty: Ty, a: u64, b: u64) -> u64 {
    if size == 4 {
        // SAFETY: forwarded from the caller.
        let cell = unsafe { AtomicU32::from_ptr(p as *mut u32) };
        let mut old = cell.load(Relaxed);
        loop {
            let new = atom_value(op, ty, u64::from(old), a, b) as u32;
            match cell.compare_exchange_weak(old, new, Relaxed, Relaxed) {
                Ok(_) => return u64::from(old),
                Err(x) => old = x,
            }
        }
    } else {
        // SAFETY: forwarded from the caller.
        let cell = unsafe { AtomicU64::from_ptr(p as *mut u64) };
        let mut old = cell.load(Relaxed);
        loop {
            let new = atom_value(op, ty, old, a, b);
            match cell.compare_exchange_weak(old, new, Relaxed, Relaxed) {
                Ok(_) => return old,
                Err(x) => old = x,
            }
        }
    }
}

/// The value an atomic writes, given the old value and the operands (`b` is cas's new value).
pub fn atom_value(op: AtomOp, ty: Ty, old: u64, a: u64, b: u64) -> u64 {
    let m = ty.mask();
    let (o, x) = (old & m, a & m);
    match op {
        AtomOp::Add => match ty {
            Ty::F32 => u64::from((f32::from_bits(o as u32) + f32::from_bits(x as u32)).to_bits()),
            Ty::F64 => (f64::from_bits(o) + f64::from_bits(x)).to_bits(),
            _ => o.wrapping_add(x) & m,
        },
        AtomOp::Min | AtomOp::Max => {
            let less = if ty.signed() { (ty.extend(o) as i64) < (ty.extend(x) as i64) } else { o < x };
            if (op == AtomOp::Min) == less { o } else { x }
        }
        AtomOp::Exch => x,
        AtomOp::Cas => {
            if o == x {
                b & m
            } else {
                o
            }
        }
        AtomOp::And => o & x,
        AtomOp::Or => o | x,
        AtomOp::Xor => o ^ x,
        AtomOp::Inc => {
            if o >= x {
                0
            } else {
                o + 1
            }
        }
        AtomOp::Dec => {
            if o == 0 || o > x {
                x
            } else {
                o - 1
            }
        }
    }
}

/// A block's shared memory, with a written-bit per byte.
pub struct Shared {
    bytes: Vec<u8>,
    written: Vec<bool>,
}

impl Shared {
    /// `size` bytes, none written.
    pub fn new(size: usize) -> Self {
        Self { bytes: vec![0; size], written: vec![false; size] }
    }

    /// Marks every byte unwritten again (a new block).
    pub fn reset(&mut self, size: usize) {
        self.bytes.clear();
        self.bytes.resize(size, 0);
        self.written.clear();
        self.written.resize(size, false);
    }

    fn range(&self, off: u64, size: u32, what: &str) -> Result<std::ops::Range<usize>, Fault> {
        let end = off.checked_add(u64::from(size)).filter(|&e| e <= self.bytes.len() as u64);
        match end {
            Some(e) => Ok(off as usize..e as usize),
            None => Err(Fault::Memory(format!(
                "out-of-bounds shared {what} of {size} bytes at offset {off:#x} (the block has {} bytes)",
                self.bytes.len()
            ))),
        }
    }

    /// Loads `size` bytes; an error if any byte was never written.
    pub fn load(&self, off: u64, size: u32) -> Result<u64, Fault> {
        let r = self.range(off, size, "load")?;
        if let Some(i) = self.written[r.clone()].iter().position(|w| !w) {
            return Err(Fault::UninitShared(format!(
                "{size} bytes at shared offset {off:#x} (byte {:#x} was never stored by any thread of the block)",
                off + i as u64
            )));
        }
        let mut v = [0u8; 8];
        v[..size as usize].copy_from_slice(&self.bytes[r]);
        Ok(u64::from_le_bytes(v))
    }

    /// Stores the low `size` bytes of `v`.
    pub fn store(&mut self, off: u64, size: u32, v: u64) -> Result<(), Fault> {
        let r = self.range(off, size, "store")?;
        self.bytes[r.clone()].copy_from_slice(&v.to_le_bytes()[..size as usize]);
        self.written[r].fill(true);
        Ok(())
    }
}

/// Plain little-endian byte memory for local, `.param` frames and `.const`.
pub fn load_bytes(mem: &[u8], off: u64, size: u32, space: &str) -> Result<u64, Fault> {
    let end = off.checked_add(u64::from(size)).filter(|&e| e <= mem.len() as u64);
    let Some(end) = end else {
        return Err(Fault::Memory(format!(
            "out-of-bounds {space} load of {size} bytes at offset {off:#x} (size {})",
            mem.len()
        )));
    };
    let mut v = [0u8; 8];
    v[..size as usize].copy_from_slice(&mem[off as usize..end as usize]);
    Ok(u64::from_le_bytes(v))
}

/// Stores into plain byte memory.
pub fn store_bytes(mem: &mut [u8], off: u64, size: u32, v: u64, space: &str) -> Result<(), Fault> {
    let end = off.checked_add(u64::from(size)).filter(|&e| e <= mem.len() as u64);
    let Some(end) = end else {
        return Err(Fault::Memory(format!(
            "out-of-bounds {space} store of {size} bytes at offset {off:#x} (size {})",
            mem.len()
        )));
    };
    mem[off as usize..end as usize].copy_from_slice(&v.to_le_bytes()[..size as usize]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_one_past_a_buffer_hits_the_guard_gap_not_the_next_buffer() {
        let mut g = Global::default();
        let a = g.alloc(&[1, 2, 3, 4]);
        let b = g.alloc(&[5, 6, 7, 8]);
        assert!(b >= a + 4 + GUARD);
        assert_eq!(g.load(a, 4).unwrap(), 0x0403_0201);
        assert!(g.store(a + 4, 4, 0).is_err());
        assert!(g.load(a + 2, 4).is_err());
        g.store(b, 2, 0xaaaa).unwrap();
        assert_eq!(g.read(b).unwrap(), vec![0xaa, 0xaa, 7, 8]);
    }

    #[test]
    fn shared_memory_reports_bytes_no_thread_wrote() {
        let mut s = Shared::new(16);
        s.store(0, 2, 0xbeef).unwrap();
        assert_eq!(s.load(0, 2).unwrap(), 0xbeef);
        assert!(matches!(s.load(0, 4), Err(Fault::UninitShared(_))));
        assert!(matches!(s.store(16, 1, 0), Err(Fault::Memory(_))));
    }

    #[test]
    fn atomics_compute_min_max_cas_and_wrapping_inc() {
        assert_eq!(atom_value(AtomOp::Min, Ty::S32, 5, 0xffff_ffff, 0), 0xffff_ffff);
        assert_eq!(atom_value(AtomOp::Min, Ty::U32, 5, 0xffff_ffff, 0), 5);
        assert_eq!(atom_value(AtomOp::Cas, Ty::B32, 5, 5, 9), 9);
        assert_eq!(atom_value(AtomOp::Cas, Ty::B32, 5, 4, 9), 5);
        assert_eq!(atom_value(AtomOp::Inc, Ty::U32, 3, 3, 0), 0);
        assert_eq!(atom_value(AtomOp::Dec, Ty::U32, 0, 3, 0), 3);
    }
}
