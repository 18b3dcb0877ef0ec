/*
 * C reference for bench/pagestats.ts: the same page stats (present,
 * swapped, file pages, region count) over [START, END) of PID with the
 * PAGEMAP_SCAN ioctl, looping exactly as native/pagemap.cc does (64 Ki regions per call; a
 * call that does not fill the vector finished the walk; a full one resumes
 * at max(walk_end, end of the last region)). Compiled by the bench with `cc -O2`.
 *
 *   pagestats-ref PID START_HEX END_HEX ITERATIONS
 * prints one JSON line: {"ms":[...], "present":N, "swapped":N, "file":N, "regions":N}
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

struct page_region { uint64_t start, end, categories; };
struct pm_scan_arg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
  uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define VEC_LEN 65536

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s PID START_HEX END_HEX ITERATIONS\n", argv[0]);
    return 2;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%s/pagemap", argv[1]);
  uint64_t start = strtoull(argv[2], NULL, 16), end = strtoull(argv[3], NULL, 16);
  int iterations = atoi(argv[4]);
  static struct page_region vec[VEC_LEN];
  uint64_t present = 0, swapped = 0, file = 0, regions = 0;
  printf("{\"ms\":[");
  for (int it = 0; it < iterations; it++) {
    double t0 = now_ms();
    /* Opened per iteration, as the addon does per call. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { perror("open"); return 1; }
    present = swapped = file = regions = 0;
    uint64_t walk = start;
    while (walk < end) {
      struct pm_scan_arg a = { sizeof a, 0, walk, end, 0, (uint64_t)(uintptr_t)vec, VEC_LEN, 0, 0, 0, 0,
                               PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_FILE };
      int n = ioctl(fd, PAGEMAP_SCAN, &a);
      if (n < 0) { perror("ioctl(PAGEMAP_SCAN)"); return 1; }
      for (int i = 0; i < n; i++) {
        uint64_t pages = (vec[i].end - vec[i].start) / 4096;
        if (vec[i].categories & PAGE_IS_PRESENT) present += pages;
        if (vec[i].categories & PAGE_IS_SWAPPED) swapped += pages;
        if (vec[i].categories & PAGE_IS_FILE) file += pages;
      }
      regions += (uint64_t)n;
      if (n < VEC_LEN) break;
      /* walk_end can lag behind the last region returned: resume after it. */
      uint64_t resume = a.walk_end > vec[n - 1].end ? a.walk_end : vec[n - 1].end;
      if (resume <= walk) break;
      walk = resume;
    }
    close(fd);
    printf("%s%.3f", it ? "," : "", now_ms() - t0);
  }
  printf("],\"present\":%llu,\"swapped\":%llu,\"file\":%llu,\"regions\":%llu}\n", (unsigned long long)present,
         (unsigned long long)swapped, (unsigned long long)file, (unsigned long long)regions);
  return 0;
}
