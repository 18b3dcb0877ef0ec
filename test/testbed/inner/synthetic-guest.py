#!/usr/bin/env python3
"""The memory of the synthetic "guest" (driven by synthetic-guest.ts).

One mapping of PAGE_COUNT pages, like a QEMU RAM block: by default a file on
hugetlbfs mapped MAP_SHARED and unlinked (smaps shows `ht`, "(deleted)"),
or private anonymous hugetlb, or plain 4 KiB anonymous memory, or (QEMU's
other RAM backends) `thp`: private anonymous memory, 2 MiB-aligned and
advised MADV_HUGEPAGE (smaps `hg`, AnonHugePages), whose "pages" here are
2 MiB blocks, one THP each; or `memfd`: a memfd_create file mapped
MAP_SHARED (libvirt's `<source type='memfd'/>`, smaps "/memfd:... (deleted)",
4 KiB shmem pages, also in 2 MiB blocks). Every 4 KiB is touched once
(faulting it in on the NUMA node the caller's mempolicy says); every 4 KiB
of the hot pages is then written again every TOUCH_MS milliseconds (DAMON
samples one 4 KiB page of a region at random, so a hot block must be hot
throughout).

SIGUSR1 switches the hot set to ALT_HOT_INDICES (when given): the workload
changes which pages it writes, and says so with one more JSON line.

Python, not node: node cannot mmap. Prints one JSON line when ready, then
runs until SIGTERM or until its parent goes away.

usage: synthetic-guest.py BACKING PAGE_COUNT HOT_INDICES(comma list) TOUCH_MS [ALT_HOT_INDICES]
"""
import ctypes
import json
import mmap
import os
import signal
import sys
import time

MAP_HUGETLB = 0x40000
MAP_FIXED = 0x10
MAP_NORESERVE = 0x4000
PROT_NONE = 0
PROT_RW = 3
MADV_HUGEPAGE = 14
LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.mmap.restype = ctypes.c_void_p
LIBC.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
HUGE = 2 * 1024 * 1024
SMALL = 4096


def _mmap(addr, length, prot, flags, fd):
    got = LIBC.mmap(addr or None, length, prot, flags, fd, 0)
    if got is None or got == ctypes.c_void_p(-1).value:
        raise OSError(ctypes.get_errno(), 'mmap')
    return got


def main():
    backing, page_count, hot_list, touch_ms = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    hot = [int(x) for x in hot_list.split(',') if x]
    alt_hot = [int(x) for x in sys.argv[5].split(',') if x] if len(sys.argv) > 5 else None
    page_size = SMALL if backing == 'anon' else HUGE
    length = page_count * page_size
    base = 0
    if backing == 'hugetlbfs':
        path = '/dev/hugepages/synthetic-guest-%d' % os.getpid()
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.unlink(path)
        os.ftruncate(fd, length)
        mem = mmap.mmap(fd, length, flags=mmap.MAP_SHARED)
        os.close(fd)
    elif backing == 'anon-huge':
        mem = mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_HUGETLB)
    elif backing == 'anon':
        mem = mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    elif backing in ('thp', 'memfd'):
        # 2 MiB-aligned, as QEMU aligns guest RAM: a THP needs it, and the
        # DAMON tracker's 2 MiB regions then cover whole blocks. Python's
        # mmap takes no address, so reserve 2 MiB more with libc mmap and
        # map the RAM over its aligned part (MAP_FIXED).
        addr = _mmap(0, length + HUGE, PROT_NONE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE, -1)
        aligned = (addr + HUGE - 1) // HUGE * HUGE
        if backing == 'thp':
            _mmap(aligned, length, PROT_RW, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_FIXED, -1)
            if LIBC.madvise(ctypes.c_void_p(aligned), ctypes.c_size_t(length), MADV_HUGEPAGE) != 0:
                raise OSError(ctypes.get_errno(), 'madvise(MADV_HUGEPAGE)')
        else:
            fd = os.memfd_create('synthetic-guest', 0)
            os.ftruncate(fd, length)
            _mmap(aligned, length, PROT_RW, mmap.MAP_SHARED | MAP_FIXED, fd)
            os.close(fd)
        mem = memoryview((ctypes.c_char * length).from_address(aligned)).cast('B')
        base = 0
    else:
        raise SystemExit('unknown backing %r' % backing)
    start = aligned if backing in ('thp', 'memfd') else ctypes.addressof(ctypes.c_char.from_buffer(mem))
    # Touch every 4 KiB once: faults all pages in (a hugetlb page or a THP on its first touch).
    mem[base:base + length:SMALL] = b'\x01' * (length // SMALL)
    parent = os.getppid()
    stop = []
    switch = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGUSR1, lambda *_: switch.append(1))
    print(json.dumps({'pid': os.getpid(), 'start': start, 'pageSizeBytes': page_size,
                      'pageCount': page_count, 'hotPages': hot}), flush=True)
    period = touch_ms / 1000.0
    counter = 0
    per_page = page_size // SMALL
    while not stop and os.getppid() == parent:
        if switch and alt_hot is not None:
            switch.clear()
            hot, alt_hot = alt_hot, None
            print(json.dumps({'switched': True, 'hotPages': hot}), flush=True)
        counter = (counter + 1) & 0xff
        fill = bytes([counter]) * per_page
        for i in hot:
            off = base + i * page_size
            mem[off:off + page_size:SMALL] = fill
        time.sleep(period)


main()
