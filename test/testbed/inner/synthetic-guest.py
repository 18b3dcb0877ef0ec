#!/usr/bin/env python3
"""The memory of the synthetic "guest" (driven by synthetic-guest.ts).

One mapping of PAGE_COUNT pages, like a QEMU RAM block: by default a file on
hugetlbfs mapped MAP_SHARED and unlinked (smaps shows `ht`, "(deleted)"),
or private anonymous hugetlb, or plain 4 KiB anonymous memory. Every page
is touched once (faulting it in on the NUMA node the caller's mempolicy
says); the hot pages are then written again every TOUCH_MS milliseconds.

Python, not node: node cannot mmap. Prints one JSON line when ready, then
runs until SIGTERM or until its parent goes away.

usage: synthetic-guest.py BACKING PAGE_COUNT HOT_INDICES(comma list) TOUCH_MS
"""
import ctypes
import json
import mmap
import os
import signal
import sys
import time

MAP_HUGETLB = 0x40000
HUGE = 2 * 1024 * 1024
SMALL = 4096


def main():
    backing, page_count, hot_list, touch_ms = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    hot = [int(x) for x in hot_list.split(',') if x]
    page_size = SMALL if backing == 'anon' else HUGE
    length = page_count * page_size
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
    else:
        raise SystemExit('unknown backing %r' % backing)
    start = ctypes.addressof(ctypes.c_char.from_buffer(mem))
    # Touch every 4 KiB once: faults all pages in (a hugetlb page on its first touch).
    mem[0:length:SMALL] = b'\x01' * (length // SMALL)
    offsets = [i * page_size for i in hot]
    parent = os.getppid()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print(json.dumps({'pid': os.getpid(), 'start': start, 'pageSizeBytes': page_size,
                      'pageCount': page_count, 'hotPages': hot}), flush=True)
    period = touch_ms / 1000.0
    counter = 0
    while not stop and os.getppid() == parent:
        counter = (counter + 1) & 0xff
        value = bytes([counter])
        for off in offsets:
            mem[off] = value[0]
        time.sleep(period)


main()
