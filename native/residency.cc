// Residency of shared memory objects, which pagemap cannot report once a
// page is swapped (shmem swap entries live in the page cache, not in the
// page table: fs/proc/task_mmu.c reports such pages as neither present nor
// swapped). Two tools, both on the backing object reached through
// /proc/PID/map_files/START-END (root only, proc(5)):
// - mincore(2) on our own MAP_SHARED mapping of it: 1 = in the page cache.
// - lseek(SEEK_DATA/SEEK_HOLE) (lseek(2)): allocated extents; for shmem a
//   swapped page is still data, a never-touched page is a hole.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "args.h"
#include "exports.h"
#include "worker.h"

namespace vt {

namespace {

constexpr uint64_t kPageSize = 4096;

constexpr const char* kMincoreUsage =
    "mincoreFile(path: string, offset: page-aligned integer >= 0, length: page-aligned integer > 0)";

class MincoreWorker : public PromiseWorker {
 public:
  MincoreWorker(Napi::Env env, std::string path, uint64_t offset, uint64_t length)
      : PromiseWorker(env), path_(std::move(path)), offset_(offset), length_(length) {}

 protected:
  void Execute() override {
    int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      Fail(errno, "open");
      return;
    }
    // PROT_READ + MAP_SHARED maps the object's page cache without faulting
    // anything in; mincore only inspects it.
    void* p = mmap(nullptr, length_, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(offset_));
    close(fd);
    if (p == MAP_FAILED) {
      Fail(errno, "mmap");
      return;
    }
    vec_.resize(length_ / kPageSize);
    if (mincore(p, length_, vec_.data()) != 0) Fail(errno, "mincore");
    munmap(p, length_);
    for (auto& b : vec_) b &= 1;  // other bits are reserved (mincore(2))
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Uint8Array out = Napi::Uint8Array::New(env, vec_.size());
    std::copy(vec_.begin(), vec_.end(), out.Data());
    return out;
  }

 private:
  std::string path_;
  uint64_t offset_;
  uint64_t length_;
  std::vector<unsigned char> vec_;
};

Napi::Value MincoreFile(const Napi::CallbackInfo& info) {
  ArgCountAtMost(info, 3, kMincoreUsage);
  std::string path = ArgString(info, 0, kMincoreUsage);
  uint64_t offset = static_cast<uint64_t>(ArgInteger(info, 1, 0, kMaxSafeInteger, kMincoreUsage));
  uint64_t length = static_cast<uint64_t>(ArgInteger(info, 2, 1, kMaxSafeInteger, kMincoreUsage));
  if (offset % kPageSize != 0 || length % kPageSize != 0) ThrowUsage(info.Env(), kMincoreUsage);
  return (new MincoreWorker(info.Env(), std::move(path), offset, length))->QueueAndPromise();
}

constexpr const char* kSeekUsage =
    "seekDataHole(pathOrFd: string | integer >= 0, start: integer >= 0, end: integer > start)";

class SeekDataHoleWorker : public PromiseWorker {
 public:
  SeekDataHoleWorker(Napi::Env env, std::string path, int fd, uint64_t start, uint64_t end)
      : PromiseWorker(env), path_(std::move(path)), fd_(fd), start_(start), end_(end) {}

 protected:
  void Execute() override {
    int fd = fd_;
    if (fd < 0) {
      fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        Fail(errno, "open");
        return;
      }
    }
    off_t pos = static_cast<off_t>(start_);
    const off_t end = static_cast<off_t>(end_);
    while (pos < end) {
      off_t data = lseek(fd, pos, SEEK_DATA);
      if (data < 0) {
        if (errno != ENXIO) Fail(errno, "lseek(SEEK_DATA)");  // ENXIO: no data after pos
        break;
      }
      if (data >= end) break;
      off_t hole = lseek(fd, data, SEEK_HOLE);
      if (hole < 0) {
        Fail(errno, "lseek(SEEK_HOLE)");
        break;
      }
      extents_.push_back(static_cast<uint64_t>(data));
      extents_.push_back(static_cast<uint64_t>(std::min(hole, end)));
      pos = hole;
    }
    if (fd_ < 0) close(fd);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Float64Array out = Napi::Float64Array::New(env, extents_.size());
    for (size_t i = 0; i < extents_.size(); i++) out.Data()[i] = static_cast<double>(extents_[i]);
    return out;
  }

 private:
  std::string path_;
  int fd_;
  uint64_t start_;
  uint64_t end_;
  std::vector<uint64_t> extents_;
};

Napi::Value SeekDataHole(const Napi::CallbackInfo& info) {
  ArgCountAtMost(info, 3, kSeekUsage);
  std::string path;
  int fd = -1;
  if (info.Length() > 0 && info[0].IsNumber()) {
    fd = ArgFd(info, 0, kSeekUsage);
  } else {
    path = ArgString(info, 0, kSeekUsage);
  }
  uint64_t start = static_cast<uint64_t>(ArgInteger(info, 1, 0, kMaxSafeInteger, kSeekUsage));
  uint64_t end = static_cast<uint64_t>(ArgInteger(info, 2, 1, kMaxSafeInteger, kSeekUsage));
  if (end <= start) ThrowUsage(info.Env(), kSeekUsage);
  return (new SeekDataHoleWorker(info.Env(), std::move(path), fd, start, end))->QueueAndPromise();
}

}  // namespace

void InitResidency(Napi::Env env, Napi::Object exports) {
  exports.Set("mincoreFile", Napi::Function::New(env, MincoreFile, "mincoreFile"));
  exports.Set("seekDataHole", Napi::Function::New(env, SeekDataHole, "seekDataHole"));
}

}  // namespace vt
