// hotcold HOT_MIB COLD_MIB [thp]: a process with a known hot and cold anonymous
// set: 4 KiB pages (MADV_NOHUGEPAGE), or with `thp` 2 MiB-aligned
// MADV_HUGEPAGE mappings (transparent hugepages). The cold set is faulted first and never
// touched again; then the hot set is faulted and written, one byte per page,
// every 10 ms forever. Prints "hot ADDR LEN" and "cold ADDR LEN" once both
// are faulted in. 4 KiB pages over 64 MiB overflow the TLB, so every pass
// walks the page tables and sets accessed bits (DAMON clears them without a
// TLB flush: a set that fits in the TLB would read idle).
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#define HP (2UL << 20)
static int thp;
static char *amap(size_t len) {
  char *p = mmap(NULL, len + HP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) { perror("mmap"); exit(1); }
  if (!thp) { madvise(p, len + HP, MADV_NOHUGEPAGE); return p; }
  char *a = (char *)(((uintptr_t)p + HP - 1) & ~(HP - 1));
  madvise(a, len, MADV_HUGEPAGE);
  return a;
}
int main(int argc, char **argv) {
  thp = argc > 3 && strcmp(argv[3], "thp") == 0;
  size_t hot = (size_t)(argc > 1 ? atol(argv[1]) : 64) << 20, cold = (size_t)(argc > 2 ? atol(argv[2]) : 256) << 20;
  char *c = amap(cold), *h = amap(hot);
  for (size_t i = 0; i < cold; i += 4096) c[i] = 1;
  for (size_t i = 0; i < hot; i += 4096) h[i] = 1;
  printf("hot %lu %zu\ncold %lu %zu\n", (unsigned long)h, hot, (unsigned long)c, cold);
  fflush(stdout);
  struct timespec ts = {0, 10 * 1000 * 1000};
  for (unsigned n = 0;; n++) {
    for (size_t i = 0; i < hot; i += 4096) h[i] = (char)n;
    nanosleep(&ts, NULL);
  }
}
