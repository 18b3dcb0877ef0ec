// Page state and NUMA node of every 4 KiB page of one address range of
// another process, in one call: the page table walk (PAGEMAP_SCAN, or
// pread of /proc/PID/pagemap on kernels without it) classifies each page
// as untouched / present / swapped straight into a byte array, then
// the node of each present page goes straight into a node array, from one
// of two sources:
// - a memory-block-to-node table (sysfs, src/platform/memory-blocks.ts):
//   the walk is then a pread of pagemap (PAGEMAP_SCAN has no PFNs), and a
//   page's node is the table entry of its PFN's block, no syscall per page;
// - move_pages(2) with a NULL node list, one address per mapping page
//   holding present pages (also for the pages the table cannot place:
//   PFN 0 without CAP_SYS_ADMIN, or a block added since it was read).
//
// Why one call: the per-page work done in JS (an address list of every
// present page, its copies into and out of the addon, fresh status arrays)
// cost more than the syscalls themselves (docs/benchmarks.md, "Migration
// hints"). The only memory this allocates per call is the two result
// arrays (3 bytes per 4 KiB page), handed to JS as external buffers; the
// scan vector and the move_pages batch are per-thread scratch.
//
// Still one kernel facility in the contract's sense (native/README.md):
// no policy, nothing kept between calls; shared-memory holes (swap that
// the page table does not show) stay in TypeScript, which asks the
// backing object (residency.cc).
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "args.h"
#include "pagemap_scan.h"
#include "exports.h"
#include "worker.h"

namespace vt {

namespace {

constexpr uint64_t kPageSize = 4096;
constexpr uint64_t kPageIsPresent = 1 << 3;
constexpr uint64_t kPageIsSwapped = 1 << 4;
constexpr size_t kScanVecLen = 65536;
// Addresses per move_pages(NULL) call. The query walks its list 16 pages
// per mmap_lock hold (mm/migrate.c, DO_PAGES_STAT_CHUNK_NR), so a long
// list does not stall the target; each call has a fixed cost that measured
// large here (1 Mi pages: one call 240-290 ms, 64 calls of 16 Ki 380-460 ms),
// so calls are as long as this allows: 8 MiB of addresses.
constexpr size_t kMovePagesBatch = 1048576;
// pagemap entries per pread in the fallback: 1 MiB.
constexpr size_t kPagemapChunk = 131072;
// Nodes are 0..MAX_NUMNODES-1 (1024 on x86_64); slot 0 counts -1 (unknown).
constexpr int kMaxNodes = 1024;
// pagemap entry bits 0-54: the PFN of a present page.
constexpr uint64_t kPfnMask = (1ULL << 55) - 1;

constexpr uint8_t kUntouched = 0;
constexpr uint8_t kPresent = 1;
constexpr uint8_t kSwapped = 2;

constexpr const char* kUsage =
    "pageStates(pid: integer > 0, start: page-aligned integer, end: page-aligned integer > start, "
    "mappingPageBytes: power of two 4096..1073741824, readMode: 0 (PAGEMAP_SCAN, pagemap if refused) | "
    "1 (pagemap reads only), nodeByBlock: Int16Array | null, blockBytes: power of two >= 4096 (with nodeByBlock) | 0)";

class PageStatesWorker : public PromiseWorker {
 public:
  PageStatesWorker(Napi::Env env, int pid, uint64_t start, uint64_t end, uint64_t mappingPage, int readMode,
                   std::vector<int16_t> nodeByBlock, uint64_t blockBytes)
      : PromiseWorker(env), pid_(pid), start_(start), end_(end), mappingPage_(mappingPage), readMode_(readMode),
        pages_((end - start) / kPageSize), nodeByBlock_(std::move(nodeByBlock)), blockPages_(blockBytes / kPageSize) {}
  ~PageStatesWorker() override {
    free(states_);
    free(nodes_);
  }

 protected:
  void Execute() override {
    states_ = static_cast<uint8_t*>(malloc(pages_));
    nodes_ = static_cast<int16_t*>(malloc(pages_ * sizeof(int16_t)));
    if (states_ == nullptr || nodes_ == nullptr) {
      Fail(ENOMEM, "malloc");
      return;
    }
    memset(states_, kUntouched, pages_);
    memset(nodes_, 0xff, pages_ * sizeof(int16_t));  // -1: not present or unknown
    std::string path = "/proc/" + std::to_string(pid_) + "/pagemap";
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      Fail(errno, "open(pagemap)");
      return;
    }
    bool ok;
    bool byPfn = !nodeByBlock_.empty();
    if (readMode_ == 0 && !byPfn) {
      int err = Scan(fd);
      // ENOTTY: no PAGEMAP_SCAN (before 6.7); EINVAL: a category it lacks.
      if (err == ENOTTY || err == EINVAL) {
        memset(states_, kUntouched, pages_);
        ok = ReadEntries(fd);
      } else {
        ok = err == 0;
        if (!ok) Fail(err, "ioctl(PAGEMAP_SCAN)");
      }
    } else {
      ok = ReadEntries(fd);
    }
    close(fd);
    if (ok) QueryNodes(byPfn);
    if (ok) Count();
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object result = Napi::Object::New(env);
    uint8_t* states = states_;
    int16_t* nodes = nodes_;
    states_ = nullptr;
    nodes_ = nullptr;
    auto release = [](Napi::Env, void* p) { free(p); };
    Napi::ArrayBuffer sb = Napi::ArrayBuffer::New(env, states, pages_, release);
    Napi::ArrayBuffer nb = Napi::ArrayBuffer::New(env, nodes, pages_ * sizeof(int16_t), release);
    result.Set("states", Napi::Uint8Array::New(env, pages_, sb, 0));
    result.Set("nodes", Napi::TypedArrayOf<int16_t>::New(env, pages_, nb, 0, napi_int16_array));
    Napi::Float64Array counts = Napi::Float64Array::New(env, 3);
    for (int i = 0; i < 3; i++) counts.Data()[i] = static_cast<double>(counts_[i]);
    result.Set("counts", counts);
    size_t used = 0;
    for (int k = 0; k <= kMaxNodes; k++) used += byNode_[k] > 0;
    Napi::Float64Array byNode = Napi::Float64Array::New(env, used * 2);
    size_t j = 0;
    for (int k = 0; k <= kMaxNodes; k++) {
      if (byNode_[k] == 0) continue;
      byNode.Data()[j++] = k - 1;
      byNode.Data()[j++] = static_cast<double>(byNode_[k]);
    }
    result.Set("presentPagesByNode", byNode);
    result.Set("source", Napi::String::New(env, source_));
    return result;
  }

 private:
  void Mark(uint64_t from, uint64_t to, uint8_t state) {
    from = std::max(from, start_);
    to = std::min(to, end_);
    if (to > from) memset(states_ + (from - start_) / kPageSize, state, (to - from) / kPageSize);
  }

  // The PAGEMAP_SCAN walk with pagemap.cc's resume rules (see the kernel
  // quirks in native/README.md: a short vector ends the walk, a full one
  // resumes at max(walk_end, end of the last region)). Returns 0 or errno.
  int Scan(int fd) {
    thread_local std::vector<PageRegion> vec(kScanVecLen);
    uint64_t walk = start_;
    while (walk < end_) {
      PmScanArg a{};
      a.size = sizeof(PmScanArg);
      a.start = walk;
      a.end = end_;
      a.vec = reinterpret_cast<uint64_t>(vec.data());
      a.vec_len = vec.size();
      a.category_anyof_mask = kPageIsPresent | kPageIsSwapped;
      a.return_mask = kPageIsPresent | kPageIsSwapped;
      int n = ioctl(fd, kPagemapScan, &a);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      uint64_t lastEnd = walk;
      for (int i = 0; i < n; i++) {
        Mark(vec[i].start, vec[i].end, (vec[i].categories & kPageIsPresent) ? kPresent : kSwapped);
        lastEnd = std::max(lastEnd, vec[i].end);
      }
      if (static_cast<size_t>(n) < vec.size()) break;
      uint64_t resume = std::max<uint64_t>(a.walk_end, lastEnd);
      if (resume <= walk) break;  // no progress: never spin
      walk = resume;
    }
    source_ = "PAGEMAP_SCAN";
    return 0;
  }

  // pagemap entries (Documentation/admin-guide/mm/pagemap.rst): bit 63
  // present, bit 62 swapped. Pages outside any VMA read as 0 (untouched).
  bool ReadEntries(int fd) {
    thread_local std::vector<uint64_t> buf(kPagemapChunk);
    source_ = "pagemap";
    for (uint64_t first = 0; first < pages_; first += kPagemapChunk) {
      size_t want = std::min<uint64_t>(kPagemapChunk, pages_ - first) * sizeof(uint64_t);
      off_t offset = static_cast<off_t>((start_ / kPageSize + first) * sizeof(uint64_t));
      size_t got = 0;
      while (got < want) {
        ssize_t n = pread(fd, reinterpret_cast<char*>(buf.data()) + got, want - got, offset + static_cast<off_t>(got));
        if (n < 0) {
          if (errno == EINTR) continue;
          Fail(errno, "pread(pagemap)");
          return false;
        }
        if (n == 0) break;
        got += static_cast<size_t>(n);
      }
      size_t entries = got / sizeof(uint64_t);
      for (size_t i = 0; i < entries; i++) {
        uint64_t e = buf[i];
        states_[first + i] = (e >> 63) ? kPresent : ((e >> 62) & 1) ? kSwapped : kUntouched;
        if (!nodeByBlock_.empty() && (e >> 63)) {
          uint64_t block = (e & kPfnMask) / blockPages_;  // PFN 0 (no CAP_SYS_ADMIN): asked below
          if ((e & kPfnMask) != 0 && block < nodeByBlock_.size()) nodes_[first + i] = nodeByBlock_[block];
        }
      }
    }
    return true;
  }

  // One address per mapping page (from start_, as the RAMBlock counts
  // them) that holds a present 4 KiB page still without a node (all of
  // them, unless the PFN table placed them); its node goes to every such
  // 4 KiB page in it. A negative per-page status (e.g. -ENOENT, raced
  // away) leaves -1.
  void QueryNodes(bool byPfn) {
    const uint64_t perMapping = mappingPage_ / kPageSize;
    auto wanted = [&](uint64_t i) { return states_[i] == kPresent && (!byPfn || nodes_[i] < 0); };
    size_t total = 0;
    for (uint64_t first = 0; first < pages_; first += perMapping) {
      uint64_t last = std::min<uint64_t>(pages_, first + perMapping);
      for (uint64_t i = first; i < last; i++) {
        if (wanted(i)) {
          total++;
          break;
        }
      }
    }
    if (total == 0) return;
    // Sized to what is asked (fresh memory is the expensive part here).
    std::vector<void*> addrs(std::min(total, kMovePagesBatch));
    std::vector<int> status(addrs.size());
    size_t n = 0;
    auto flush = [&]() -> bool {
      if (n == 0) return true;
      long rc = syscall(SYS_move_pages, pid_, n, addrs.data(), nullptr, status.data(), 0);
      if (rc < 0) {
        Fail(errno, "move_pages");
        return false;
      }
      for (size_t k = 0; k < n; k++) {
        int node = status[k];
        if (node < 0 || node >= kMaxNodes) continue;
        uint64_t first = (reinterpret_cast<uint64_t>(addrs[k]) - start_) / kPageSize;
        uint64_t last = std::min<uint64_t>(pages_, first + perMapping);
        for (uint64_t i = first; i < last; i++)
          if (wanted(i)) nodes_[i] = static_cast<int16_t>(node);
      }
      n = 0;
      return true;
    };
    for (uint64_t first = 0; first < pages_; first += perMapping) {
      uint64_t last = std::min<uint64_t>(pages_, first + perMapping);
      bool any = false;
      for (uint64_t i = first; i < last && !any; i++) any = wanted(i);
      if (!any) continue;
      addrs[n++] = reinterpret_cast<void*>(start_ + first * kPageSize);
      if (n == addrs.size() && !flush()) return;
    }
    flush();
  }

  void Count() {
    for (uint64_t i = 0; i < pages_; i++) {
      uint8_t s = states_[i];
      counts_[s]++;
      if (s == kPresent) byNode_[nodes_[i] + 1]++;
    }
  }

  int pid_;
  uint64_t start_;
  uint64_t end_;
  uint64_t mappingPage_;
  int readMode_;
  uint64_t pages_;
  uint8_t* states_ = nullptr;
  int16_t* nodes_ = nullptr;
  uint64_t counts_[3] = {0, 0, 0};
  uint64_t byNode_[kMaxNodes + 1] = {};
  std::vector<int16_t> nodeByBlock_;
  uint64_t blockPages_;
  const char* source_ = "PAGEMAP_SCAN";
};

Napi::Value PageStates(const Napi::CallbackInfo& info) {
  ArgCountAtMost(info, 7, kUsage);
  int pid = ArgPid(info, 0, kUsage);
  uint64_t start = static_cast<uint64_t>(ArgInteger(info, 1, 0, kMaxSafeInteger, kUsage));
  uint64_t end = static_cast<uint64_t>(ArgInteger(info, 2, 0, kMaxSafeInteger, kUsage));
  uint64_t mappingPage = static_cast<uint64_t>(ArgInteger(info, 3, 4096, 1073741824.0, kUsage));
  int readMode = static_cast<int>(ArgInteger(info, 4, 0, 1, kUsage));
  if (start % kPageSize != 0 || end % kPageSize != 0 || end <= start) ThrowUsage(info.Env(), kUsage);
  if ((mappingPage & (mappingPage - 1)) != 0) ThrowUsage(info.Env(), kUsage);
  // The table is copied: the worker thread never reads memory the JS heap owns.
  std::vector<int16_t> nodeByBlock;
  uint64_t blockBytes = 0;
  if (info.Length() > 5 && !info[5].IsNull() && !info[5].IsUndefined()) {
    if (!info[5].IsTypedArray() || info[5].As<Napi::TypedArray>().TypedArrayType() != napi_int16_array) ThrowUsage(info.Env(), kUsage);
    Napi::TypedArrayOf<int16_t> t = info[5].As<Napi::TypedArrayOf<int16_t>>();
    nodeByBlock.assign(t.Data(), t.Data() + t.ElementLength());
    blockBytes = static_cast<uint64_t>(ArgInteger(info, 6, 4096, kMaxSafeInteger, kUsage));
    if ((blockBytes & (blockBytes - 1)) != 0 || nodeByBlock.empty()) ThrowUsage(info.Env(), kUsage);
  }
  auto* worker = new PageStatesWorker(info.Env(), pid, start, end, mappingPage, readMode, std::move(nodeByBlock), blockBytes);
  return worker->QueueAndPromise();
}

}  // namespace

void InitPageStates(Napi::Env env, Napi::Object exports) {
  exports.Set("pageStates", Napi::Function::New(env, PageStates, "pageStates"));
}

}  // namespace vt
