/*
 * C reference for bench/migrate-hints.ts: the work `virt-tier migrate-hints
 * --format bitmap` does for one RAMBlock, written plainly in C:
 *   1. PAGEMAP_SCAN over [START, END) for PRESENT|SWAPPED (the same loop as
 *      native/pagemap.cc: 64 Ki regions per call, resume after the last);
 *   2. move_pages(pid, n, addrs, NULL, status, 0) for every present 4 KiB
 *      page (the NUMA node of each);
 *   3. one state byte and one node per page, then the present, swapped and
 *      cold (empty) VTBM records, written to OUT.
 * Compiled by the bench with `cc -O2`.
 *
 *   migrate-hints-ref PID START_HEX END_HEX ITERATIONS OUT
 * prints one JSON line: {"ms":[...], "present":N, "swapped":N, "nodes0":N}
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct page_region { uint64_t start, end, categories; };
struct pm_scan_arg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
  uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define VEC_LEN 65536

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v); put16(p + 2, v >> 16); }
static void put64(uint8_t *p, uint64_t v) { put32(p, v); put32(p + 4, v >> 32); }

/* One VTBM record (docs/migration-hints.md) for the pages whose state == want. */
static void write_record(FILE *f, const uint8_t *states, uint64_t pages, int want, uint16_t state_code, uint64_t length) {
  const char *id = "anon";
  size_t id_len = strlen(id), hdr_len = (66 + id_len + 7) & ~7UL, bm_len = (pages + 63) / 64 * 8;
  uint8_t *buf = calloc(1, hdr_len + bm_len), *bm = buf + hdr_len;
  uint64_t set = 0;
  for (uint64_t i = 0; i < pages; i++)
    if (states[i] == want) { bm[i >> 3] |= 1 << (i & 7); set++; }
  memcpy(buf, "VTBM", 4);
  put16(buf + 4, 2); put16(buf + 6, hdr_len); put16(buf + 8, state_code); put16(buf + 10, 0);
  put32(buf + 12, 4096); put64(buf + 16, 4096); put64(buf + 24, length); put64(buf + 32, 1);
  put64(buf + 40, 0); put64(buf + 48, pages); put64(buf + 56, set); put16(buf + 64, id_len);
  memcpy(buf + 66, id, id_len);
  fwrite(buf, 1, hdr_len + bm_len, f);
  free(buf);
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s PID START_HEX END_HEX ITERATIONS OUT\n", argv[0]);
    return 2;
  }
  int pid = atoi(argv[1]);
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/pagemap", pid);
  uint64_t start = strtoull(argv[2], NULL, 16), end = strtoull(argv[3], NULL, 16);
  int iterations = atoi(argv[4]);
  uint64_t pages = (end - start) / 4096;
  static struct page_region vec[VEC_LEN];
  uint8_t *states = malloc(pages);
  int16_t *nodes = malloc(pages * sizeof *nodes);
  void **addrs = malloc(pages * sizeof *addrs);
  int *status = malloc(pages * sizeof *status);
  uint64_t present = 0, swapped = 0, nodes0 = 0;
  printf("{\"ms\":[");
  for (int it = 0; it < iterations; it++) {
    double t0 = now_ms();
    memset(states, 0, pages);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { perror("open"); return 1; }
    uint64_t walk = start;
    while (walk < end) {
      struct pm_scan_arg a = { sizeof a, 0, walk, end, 0, (uint64_t)(uintptr_t)vec, VEC_LEN, 0, 0, 0,
                               PAGE_IS_PRESENT | PAGE_IS_SWAPPED, PAGE_IS_PRESENT | PAGE_IS_SWAPPED };
      int n = ioctl(fd, PAGEMAP_SCAN, &a);
      if (n < 0) { perror("ioctl(PAGEMAP_SCAN)"); return 1; }
      for (int i = 0; i < n; i++)
        memset(states + (vec[i].start - start) / 4096, vec[i].categories & PAGE_IS_PRESENT ? 1 : 2, (vec[i].end - vec[i].start) / 4096);
      if (n < VEC_LEN) break;
      uint64_t resume = a.walk_end > vec[n - 1].end ? a.walk_end : vec[n - 1].end;
      if (resume <= walk) break;
      walk = resume;
    }
    close(fd);
    uint64_t n = 0;
    for (uint64_t i = 0; i < pages; i++) {
      nodes[i] = -1;
      if (states[i] == 1) addrs[n++] = (void *)(uintptr_t)(start + i * 4096);
    }
    if (n > 0 && syscall(SYS_move_pages, pid, n, addrs, NULL, status, 0) != 0) { perror("move_pages"); return 1; }
    present = n; swapped = 0; nodes0 = 0;
    for (uint64_t k = 0; k < n; k++) {
      uint64_t i = ((uintptr_t)addrs[k] - start) / 4096;
      nodes[i] = status[k] >= 0 ? status[k] : -1;
      if (status[k] == 0) nodes0++;
    }
    for (uint64_t i = 0; i < pages; i++) swapped += states[i] == 2;
    FILE *f = fopen(argv[5], "wb");
    if (!f) { perror(argv[5]); return 1; }
    write_record(f, states, pages, 1, 1, end - start);
    write_record(f, states, pages, 2, 2, end - start);
    write_record(f, states, pages, 255, 3, end - start); /* cold: no access data, no bits */
    fclose(f);
    printf("%s%.3f", it ? "," : "", now_ms() - t0);
  }
  printf("],\"present\":%llu,\"swapped\":%llu,\"nodes0\":%llu}\n", (unsigned long long)present,
         (unsigned long long)swapped, (unsigned long long)nodes0);
  return 0;
}
