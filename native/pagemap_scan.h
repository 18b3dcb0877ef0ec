// The PAGEMAP_SCAN ioctl's ABI (Linux 6.7+, fs/proc/task_mmu.c), shared by
// pagemap.cc and page_states.cc. Debian 12's <linux/fs.h> predates it, so
// the structs are carried here (include/uapi/linux/fs.h, Linux 6.7); the
// kernel checks `size` and accepts this struct on every later version.
#pragma once
#include <sys/ioctl.h>

#include <cstdint>

namespace vt {

struct PageRegion {
  uint64_t start;
  uint64_t end;
  uint64_t categories;
};

struct PmScanArg {
  uint64_t size;
  uint64_t flags;
  uint64_t start;
  uint64_t end;
  uint64_t walk_end;
  uint64_t vec;
  uint64_t vec_len;
  uint64_t max_pages;
  uint64_t category_inverted;
  uint64_t category_mask;
  uint64_t category_anyof_mask;
  uint64_t return_mask;
};

constexpr unsigned long kPagemapScan = _IOWR('f', 16, struct PmScanArg);

}  // namespace vt
