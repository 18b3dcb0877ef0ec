// /proc/PID/pagemap: bulk pread of raw 64-bit entries, and the PAGEMAP_SCAN
// ioctl (Linux 6.7+, fs/proc/task_mmu.c) that returns ranges of pages with
// the same category bits instead of one entry per page.
// The ioctl's ABI structs: pagemap_scan.h.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "args.h"
#include "pagemap_scan.h"
#include "exports.h"
#include "worker.h"

namespace vt {

namespace {

constexpr uint64_t kPageSize = 4096;
// Regions per ioctl call: 64k * 24 bytes = 1.5 MiB of output buffer.
constexpr size_t kScanVecLen = 65536;

std::string PagemapPath(int pid) { return "/proc/" + std::to_string(pid) + "/pagemap"; }

constexpr const char* kReadUsage =
    "readPagemap(pid: integer > 0, startAddr: page-aligned integer >= 0, pageCount: integer >= 0)";

// Bulk pread of pageCount entries. The result buffer is handed to JS as an
// external ArrayBuffer, so 8 MiB for 4 GiB of address space is not copied.
class ReadPagemapWorker : public PromiseWorker {
 public:
  ReadPagemapWorker(Napi::Env env, int pid, uint64_t start, uint64_t count)
      : PromiseWorker(env), pid_(pid), start_(start), count_(count) {}
  ~ReadPagemapWorker() override { free(data_); }

 protected:
  void Execute() override {
    int fd = open(PagemapPath(pid_).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      Fail(errno, "open(pagemap)");
      return;
    }
    size_t want = count_ * sizeof(uint64_t);
    data_ = static_cast<uint64_t*>(malloc(want == 0 ? 1 : want));
    if (data_ == nullptr) {
      close(fd);
      Fail(ENOMEM, "malloc");
      return;
    }
    size_t got = 0;
    off_t offset = static_cast<off_t>((start_ / kPageSize) * sizeof(uint64_t));
    while (got < want) {
      ssize_t n = pread(fd, reinterpret_cast<char*>(data_) + got, want - got, offset + static_cast<off_t>(got));
      if (n < 0) {
        if (errno == EINTR) continue;
        Fail(errno, "pread(pagemap)");
        break;
      }
      if (n == 0) break;  // end of the address space
      got += static_cast<size_t>(n);
    }
    entries_ = got / sizeof(uint64_t);
    close(fd);
  }

  Napi::Value Result(Napi::Env env) override {
    uint64_t* data = data_;
    data_ = nullptr;
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, data, entries_ * sizeof(uint64_t),
                                                   [](Napi::Env, void* p) { free(p); });
    return Napi::TypedArrayOf<uint64_t>::New(env, entries_, buf, 0, napi_biguint64_array);
  }

 private:
  int pid_;
  uint64_t start_;
  uint64_t count_;
  uint64_t* data_ = nullptr;
  size_t entries_ = 0;
};

Napi::Value ReadPagemap(const Napi::CallbackInfo& info) {
  ArgCountAtMost(info, 3, kReadUsage);
  int pid = ArgPid(info, 0, kReadUsage);
  uint64_t start = static_cast<uint64_t>(ArgInteger(info, 1, 0, kMaxSafeInteger, kReadUsage));
  // 2^36 pages = 256 TiB of address space: the x86_64 4-level user limit is 2^35.
  uint64_t count = static_cast<uint64_t>(ArgInteger(info, 2, 0, 68719476736.0, kReadUsage));
  if (start % kPageSize != 0) ThrowUsage(info.Env(), kReadUsage);
  auto* worker = new ReadPagemapWorker(info.Env(), pid, start, count);
  return worker->QueueAndPromise();
}

constexpr const char* kPfnUsage =
    "readPagemapPfns(pid: integer > 0, startAddr: page-aligned integer >= 0, pageCount: integer >= 0)";

// The same pread, decoded here into what the DAMON paddr tracker needs per
// page: the PFN (0 when not present, or without CAP_SYS_ADMIN) as a double
// and flags (bit 0 present, bit 1 swapped). Saves JS a BigUint64Array and a
// decode loop per page; the entries are read in 1 MiB chunks into a
// per-thread buffer, so only the two results are fresh memory (9 bytes per
// page instead of 8 + 9).
class ReadPagemapPfnsWorker : public PromiseWorker {
 public:
  ReadPagemapPfnsWorker(Napi::Env env, int pid, uint64_t start, uint64_t count)
      : PromiseWorker(env), pid_(pid), start_(start), count_(count) {}
  ~ReadPagemapPfnsWorker() override {
    free(pfn_);
    free(flags_);
  }

 protected:
  void Execute() override {
    constexpr size_t kChunk = 131072;
    thread_local std::vector<uint64_t> buf(kChunk);
    int fd = open(PagemapPath(pid_).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      Fail(errno, "open(pagemap)");
      return;
    }
    pfn_ = static_cast<double*>(malloc(count_ == 0 ? 1 : count_ * sizeof(double)));
    flags_ = static_cast<uint8_t*>(malloc(count_ == 0 ? 1 : count_));
    if (pfn_ == nullptr || flags_ == nullptr) {
      close(fd);
      Fail(ENOMEM, "malloc");
      return;
    }
    uint64_t done = 0;
    while (done < count_) {
      size_t want = std::min<uint64_t>(kChunk, count_ - done) * sizeof(uint64_t);
      off_t offset = static_cast<off_t>((start_ / kPageSize + done) * sizeof(uint64_t));
      ssize_t n = pread(fd, buf.data(), want, offset);
      if (n < 0) {
        if (errno == EINTR) continue;
        Fail(errno, "pread(pagemap)");
        break;
      }
      if (n == 0) break;  // end of the address space
      size_t entries = static_cast<size_t>(n) / sizeof(uint64_t);
      for (size_t i = 0; i < entries; i++) {
        uint64_t e = buf[i];
        bool present = (e >> 63) != 0;
        pfn_[done + i] = present ? static_cast<double>(e & ((1ULL << 55) - 1)) : 0;
        flags_[done + i] = (present ? 1 : 0) | (((e >> 62) & 1) ? 2 : 0);
      }
      done += entries;
      if (entries == 0) break;
    }
    entries_ = done;
    close(fd);
  }

  Napi::Value Result(Napi::Env env) override {
    auto release = [](Napi::Env, void* p) { free(p); };
    Napi::Object result = Napi::Object::New(env);
    double* pfn = pfn_;
    uint8_t* flags = flags_;
    pfn_ = nullptr;
    flags_ = nullptr;
    Napi::ArrayBuffer pb = Napi::ArrayBuffer::New(env, pfn, entries_ * sizeof(double), release);
    Napi::ArrayBuffer fb = Napi::ArrayBuffer::New(env, flags, entries_, release);
    result.Set("pfn", Napi::Float64Array::New(env, entries_, pb, 0));
    result.Set("flags", Napi::Uint8Array::New(env, entries_, fb, 0));
    return result;
  }

 private:
  int pid_;
  uint64_t start_;
  uint64_t count_;
  double* pfn_ = nullptr;
  uint8_t* flags_ = nullptr;
  size_t entries_ = 0;
};

Napi::Value ReadPagemapPfns(const Napi::CallbackInfo& info) {
  ArgCountAtMost(info, 3, kPfnUsage);
  int pid = ArgPid(info, 0, kPfnUsage);
  uint64_t start = static_cast<uint64_t>(ArgInteger(info, 1, 0, kMaxSafeInteger, kPfnUsage));
  uint64_t count = static_cast<uint64_t>(ArgInteger(info, 2, 0, 68719476736.0, kPfnUsage));
  if (start % kPageSize != 0) ThrowUsage(info.Env(), kPfnUsage);
  auto* worker = new ReadPagemapPfnsWorker(info.Env(), pid, start, count);
  return worker->QueueAndPromise();
}

constexpr const char* kScanUsage =
    "pagemapScan(pid: integer > 0, start: page-aligned integer, end: page-aligned integer > start, "
    "categoryInverted: integer, categoryMask: integer, categoryAnyOfMask: integer, returnMask: integer > 0, "
    "maxPages: integer >= 0 (0 = no limit))";

// Walks [start, end) with repeated ioctls: each call fills at most
// kScanVecLen regions and reports walk_end, where the next call resumes.
//
// Two outputs: the regions themselves, or only page counts per distinct
// category value (counts mode). Counts exist because on this machine (a
// PVM guest) every fresh page of output costs a slow page fault: 1 Mi
// regions are 24 MiB of output, ten times the walk itself. The regions
// buffer is malloc'd and grown with realloc (mremap for large blocks: no
// copy, no refault), then handed to JS as an external ArrayBuffer.
class PagemapScanWorker : public PromiseWorker {
 public:
  PagemapScanWorker(Napi::Env env, int pid, const PmScanArg& arg, bool countsOnly)
      : PromiseWorker(env), pid_(pid), arg_(arg), countsOnly_(countsOnly) {}
  ~PagemapScanWorker() override { free(out_); }

 protected:
  void Execute() override {
    int fd = open(PagemapPath(pid_).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      Fail(errno, "open(pagemap)");
      return;
    }
    // One output vector per pool thread, reused: a fresh 1.5 MiB buffer per
    // call costs page faults on every call.
    thread_local std::vector<PageRegion> vec(kScanVecLen);
    uint64_t end = arg_.end;
    uint64_t pagesLeft = arg_.max_pages;
    walkEnd_ = arg_.start;
    while (walkEnd_ < end) {
      PmScanArg a = arg_;
      a.size = sizeof(PmScanArg);
      a.start = walkEnd_;
      a.vec = reinterpret_cast<uint64_t>(vec.data());
      a.vec_len = vec.size();
      a.max_pages = pagesLeft;
      int n = ioctl(fd, kPagemapScan, &a);
      if (n < 0) {
        if (errno == EINTR) continue;
        Fail(errno, "ioctl(PAGEMAP_SCAN)");
        break;
      }
      for (int i = 0; i < n; i++) {
        PageRegion r = vec[i];
        if (r.start < lastEnd_) r.start = lastEnd_;  // never overlap (see the resume rule below)
        if (r.end <= r.start) continue;
        if (arg_.max_pages != 0) pagesLeft -= (r.end - r.start) / kPageSize;
        if (countsOnly_) {
          AddCount(r.categories, (r.end - r.start) / kPageSize);
          if (!(r.start == lastEnd_ && r.categories == lastCats_ && regionCount_ > 0)) regionCount_++;
        } else if (!AppendRegion(r)) {
          Fail(ENOMEM, "realloc");
          break;
        }
        lastEnd_ = r.end;
        lastCats_ = r.categories;
      }
      if (arg_.max_pages != 0 && pagesLeft == 0) {
        walkEnd_ = a.walk_end;
        break;
      }
      // A call that did not fill the vector walked the whole range. Its
      // walk_end is then not trustworthy: 6.18 leaves it at the last point
      // where the kernel's internal 512-entry buffer filled (seen here:
      // 5000 pages, every 7th present, walk_end at page 3584).
      if (static_cast<size_t>(n) < vec.size()) {
        walkEnd_ = end;
        break;
      }
      // A full vector: resume where reporting stopped. walk_end can lag
      // behind the last region returned (seen here: up to 256 pages), so
      // take whichever is further; the clipping above drops any overlap.
      uint64_t resume = std::max<uint64_t>(a.walk_end, lastEnd_);
      if (resume <= walkEnd_) break;  // no progress: never spin
      walkEnd_ = resume;
    }
    close(fd);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object result = Napi::Object::New(env);
    result.Set("walkEnd", Napi::Number::New(env, static_cast<double>(walkEnd_)));
    if (countsOnly_) {
      Napi::Float64Array pages = Napi::Float64Array::New(env, counts_.size() * 2);
      for (size_t i = 0; i < counts_.size(); i++) {
        pages.Data()[2 * i] = static_cast<double>(counts_[i].first);
        pages.Data()[2 * i + 1] = static_cast<double>(counts_[i].second);
      }
      result.Set("pagesByCategories", pages);
      result.Set("regions", Napi::Number::New(env, static_cast<double>(regionCount_)));
      return result;
    }
    double* data = out_;
    size_t len = outLen_;
    out_ = nullptr;
    Napi::ArrayBuffer buf = data == nullptr
        ? Napi::ArrayBuffer::New(env, 0)
        : Napi::ArrayBuffer::New(env, data, len * sizeof(double), [](Napi::Env, void* p) { free(p); });
    result.Set("regions", Napi::Float64Array::New(env, len, buf, 0));
    return result;
  }

 private:
  void AddCount(uint64_t cats, uint64_t pages) {
    for (auto& c : counts_) {
      if (c.first == cats) {
        c.second += pages;
        return;
      }
    }
    counts_.emplace_back(cats, pages);
  }

  // Appends or merges into the previous region (the kernel merges only
  // within one call). Returns false when memory runs out.
  bool AppendRegion(const PageRegion& r) {
    if (outLen_ >= 3 && out_[outLen_ - 2] == static_cast<double>(r.start) &&
        out_[outLen_ - 1] == static_cast<double>(r.categories)) {
      out_[outLen_ - 2] = static_cast<double>(r.end);
      return true;
    }
    if (outLen_ + 3 > outCap_) {
      size_t cap = outCap_ == 0 ? 3 * 4096 : outCap_ * 2;
      double* grown = static_cast<double*>(realloc(out_, cap * sizeof(double)));
      if (grown == nullptr) return false;
      out_ = grown;
      outCap_ = cap;
    }
    out_[outLen_++] = static_cast<double>(r.start);
    out_[outLen_++] = static_cast<double>(r.end);
    out_[outLen_++] = static_cast<double>(r.categories);
    return true;
  }

  int pid_;
  PmScanArg arg_;
  bool countsOnly_;
  double* out_ = nullptr;
  size_t outLen_ = 0;
  size_t outCap_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> counts_;
  uint64_t regionCount_ = 0;
  uint64_t lastEnd_ = 0;
  uint64_t lastCats_ = 0;
  uint64_t walkEnd_ = 0;
};

PmScanArg ScanArgs(const Napi::CallbackInfo& info, const char* usage) {
  PmScanArg arg{};
  ArgPid(info, 0, usage);
  arg.start = static_cast<uint64_t>(ArgInteger(info, 1, 0, kMaxSafeInteger, usage));
  arg.end = static_cast<uint64_t>(ArgInteger(info, 2, 0, kMaxSafeInteger, usage));
  arg.category_inverted = static_cast<uint64_t>(ArgInteger(info, 3, 0, 4294967295.0, usage));
  arg.category_mask = static_cast<uint64_t>(ArgInteger(info, 4, 0, 4294967295.0, usage));
  arg.category_anyof_mask = static_cast<uint64_t>(ArgInteger(info, 5, 0, 4294967295.0, usage));
  arg.return_mask = static_cast<uint64_t>(ArgInteger(info, 6, 1, 4294967295.0, usage));
  if (arg.start % kPageSize != 0 || arg.end % kPageSize != 0 || arg.end <= arg.start) ThrowUsage(info.Env(), usage);
  return arg;
}

Napi::Value PagemapScan(const Napi::CallbackInfo& info) {
  ArgCountAtMost(info, 8, kScanUsage);
  PmScanArg arg = ScanArgs(info, kScanUsage);
  arg.max_pages = static_cast<uint64_t>(ArgInteger(info, 7, 0, kMaxSafeInteger, kScanUsage));
  auto* worker = new PagemapScanWorker(info.Env(), ArgPid(info, 0, kScanUsage), arg, false);
  return worker->QueueAndPromise();
}

constexpr const char* kCountUsage =
    "pagemapScanCounts(pid: integer > 0, start: page-aligned integer, end: page-aligned integer > start, "
    "categoryInverted: integer, categoryMask: integer, categoryAnyOfMask: integer, returnMask: integer > 0)";

Napi::Value PagemapScanCounts(const Napi::CallbackInfo& info) {
  ArgCountAtMost(info, 7, kCountUsage);
  PmScanArg arg = ScanArgs(info, kCountUsage);
  auto* worker = new PagemapScanWorker(info.Env(), ArgPid(info, 0, kCountUsage), arg, true);
  return worker->QueueAndPromise();
}

}  // namespace

void InitPagemap(Napi::Env env, Napi::Object exports) {
  exports.Set("readPagemap", Napi::Function::New(env, ReadPagemap, "readPagemap"));
  exports.Set("readPagemapPfns", Napi::Function::New(env, ReadPagemapPfns, "readPagemapPfns"));
  exports.Set("pagemapScan", Napi::Function::New(env, PagemapScan, "pagemapScan"));
  exports.Set("pagemapScanCounts", Napi::Function::New(env, PagemapScanCounts, "pagemapScanCounts"));
}

}  // namespace vt
