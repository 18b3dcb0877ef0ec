#!/usr/bin/env python3
"""The mover benchmark's harsher baseline: migrate_pages(2) called directly,
as numactl's migratepages does, but from a long-lived process so no exec
cost is counted. Reads lines "PID FROM TO" on stdin, answers each with the
syscall's wall time in ms (or "error ERRNO")."""
import ctypes
import os
import sys
import time

SYS_migrate_pages = 256  # x86_64 (arch/x86/entry/syscalls/syscall_64.tbl)
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

for line in sys.stdin:
    pid, frm, to = (int(x) for x in line.split())
    old = ctypes.c_ulong(1 << frm)
    new = ctypes.c_ulong(1 << to)
    t0 = time.perf_counter()
    rc = libc.syscall(SYS_migrate_pages, pid, 64, ctypes.byref(old), ctypes.byref(new))
    ms = (time.perf_counter() - t0) * 1000
    if rc < 0:
        print('error %d' % ctypes.get_errno(), flush=True)
    else:
        print('%.3f' % ms, flush=True)
