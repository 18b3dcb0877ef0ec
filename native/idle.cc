// Access-bit sources that are plain files with odd rules:
// - page_idle bitmap (Documentation/admin-guide/mm/idle_page_tracking.rst):
//   one bit per PFN, read and written only in whole 8-byte words at
//   8-byte-aligned offsets (EINVAL otherwise).
// - etmem's /proc/PID/idle_pages (openEuler etmem_scan module): scan flags
//   are set per open file with ioctl(IDLE_SCAN_ADD_FLAGS), the file position
//   is a virtual address, and read() returns an encoded stream (decoded in
//   src/scan/, not here).
// Both take a path, so tests can point them at fixture files.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "args.h"
#include "exports.h"
#include "worker.h"

namespace vt {

namespace {

constexpr const char* kReadIdleUsage =
    "readIdleBitmap(path: string, firstWord: integer >= 0, wordCount: integer >= 0)";
constexpr const char* kWriteIdleUsage = "writeIdleBitmap(path: string, firstWord: integer >= 0, words: BigUint64Array)";

class ReadIdleBitmapWorker : public PromiseWorker {
 public:
  ReadIdleBitmapWorker(Napi::Env env, std::string path, uint64_t first, uint64_t count)
      : PromiseWorker(env), path_(std::move(path)), first_(first), words_(count) {}

 protected:
  void Execute() override {
    int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      Fail(errno, "open(page_idle)");
      return;
    }
    size_t want = words_.size() * 8, got = 0;
    while (got < want) {
      ssize_t n = pread(fd, reinterpret_cast<char*>(words_.data()) + got, want - got,
                        static_cast<off_t>(first_ * 8 + got));
      if (n < 0) {
        if (errno == EINTR) continue;
        Fail(errno, "pread(page_idle)");
        break;
      }
      if (n == 0) break;  // past max_pfn
      got += static_cast<size_t>(n);
    }
    words_.resize(got / 8);
    close(fd);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, words_.size() * 8);
    std::copy(words_.begin(), words_.end(), static_cast<uint64_t*>(buf.Data()));
    return Napi::TypedArrayOf<uint64_t>::New(env, words_.size(), buf, 0, napi_biguint64_array);
  }

 private:
  std::string path_;
  uint64_t first_;
  std::vector<uint64_t> words_;
};

Napi::Value ReadIdleBitmap(const Napi::CallbackInfo& info) {
  ArgCountAtMost(info, 3, kReadIdleUsage);
  std::string path = ArgString(info, 0, kReadIdleUsage);
  uint64_t first = static_cast<uint64_t>(ArgInteger(info, 1, 0, kMaxSafeInteger / 8, kReadIdleUsage));
  uint64_t count = static_cast<uint64_t>(ArgInteger(info, 2, 0, 1 << 28, kReadIdleUsage));
  return (new ReadIdleBitmapWorker(info.Env(), std::move(path), first, count))->QueueAndPromise();
}

class WriteIdleBitmapWorker : public PromiseWorker {
 public:
  WriteIdleBitmapWorker(Napi::Env env, std::string path, uint64_t first, std::vector<uint64_t> words)
      : PromiseWorker(env), path_(std::move(path)), first_(first), words_(std::move(words)) {}

 protected:
  void Execute() override {
    int fd = open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      Fail(errno, "open(page_idle)");
      return;
    }
    size_t want = words_.size() * 8;
    while (written_ < want) {
      ssize_t n = pwrite(fd, reinterpret_cast<const char*>(words_.data()) + written_, want - written_,
                         static_cast<off_t>(first_ * 8 + written_));
      if (n < 0) {
        if (errno == EINTR) continue;
        Fail(errno, "pwrite(page_idle)");
        break;
      }
      if (n == 0) break;
      written_ += static_cast<size_t>(n);
    }
    close(fd);
  }

  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(written_)); }

 private:
  std::string path_;
  uint64_t first_;
  std::vector<uint64_t> words_;
  size_t written_ = 0;
};

Napi::Value WriteIdleBitmap(const Napi::CallbackInfo& info) {
  ArgCountAtMost(info, 3, kWriteIdleUsage);
  std::string path = ArgString(info, 0, kWriteIdleUsage);
  uint64_t first = static_cast<uint64_t>(ArgInteger(info, 1, 0, kMaxSafeInteger / 8, kWriteIdleUsage));
  if (info.Length() < 3 || !info[2].IsTypedArray()) ThrowUsage(info.Env(), kWriteIdleUsage);
  Napi::TypedArray ta = info[2].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_biguint64_array) ThrowUsage(info.Env(), kWriteIdleUsage);
  auto arr = ta.As<Napi::TypedArrayOf<uint64_t>>();
  std::vector<uint64_t> words(arr.Data(), arr.Data() + arr.ElementLength());
  return (new WriteIdleBitmapWorker(info.Env(), std::move(path), first, std::move(words)))->QueueAndPromise();
}

// etmem_scan's uapi (openEuler etmem, etmemd_scan.h): magic 0x66, nr 0.
constexpr unsigned long kIdleScanAddFlags = _IOW(0x66, 0x0, unsigned int);

constexpr const char* kIdlePagesUsage =
    "readIdlePages(path: string, startVa: page-aligned integer >= 0, maxBytes: integer > 0, "
    "scanFlags: integer >= 0 (SCAN_AS_HUGE 0x1000000 | SCAN_IGN_HOST 0x2000000))";

class ReadIdlePagesWorker : public PromiseWorker {
 public:
  ReadIdlePagesWorker(Napi::Env env, std::string path, uint64_t va, size_t maxBytes, unsigned int flags)
      : PromiseWorker(env), path_(std::move(path)), va_(va), data_(maxBytes), flags_(flags) {}

 protected:
  void Execute() override {
    int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      Fail(errno, "open(idle_pages)");
      return;
    }
    unsigned int flags = flags_;
    if (flags != 0 && ioctl(fd, kIdleScanAddFlags, &flags) != 0) {
      Fail(errno, "ioctl(IDLE_SCAN_ADD_FLAGS)");
      close(fd);
      return;
    }
    if (lseek(fd, static_cast<off_t>(va_), SEEK_SET) == static_cast<off_t>(-1)) {
      Fail(errno, "lseek(idle_pages)");
      close(fd);
      return;
    }
    // read(), not pread(): the module advances f_pos to the next VA to scan,
    // which is how the caller learns where the walk stopped.
    while (got_ < data_.size()) {
      ssize_t n = read(fd, data_.data() + got_, data_.size() - got_);
      if (n < 0) {
        if (errno == EINTR) continue;
        Fail(errno, "read(idle_pages)");
        break;
      }
      if (n == 0) break;
      got_ += static_cast<size_t>(n);
    }
    off_t pos = lseek(fd, 0, SEEK_CUR);
    nextVa_ = pos < 0 ? 0 : static_cast<uint64_t>(pos);
    close(fd);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("data", Napi::Buffer<uint8_t>::Copy(env, data_.data(), got_));
    out.Set("nextVa", Napi::Number::New(env, static_cast<double>(nextVa_)));
    return out;
  }

 private:
  std::string path_;
  uint64_t va_;
  std::vector<uint8_t> data_;
  unsigned int flags_;
  size_t got_ = 0;
  uint64_t nextVa_ = 0;
};

Napi::Value ReadIdlePages(const Napi::CallbackInfo& info) {
  ArgCountAtMost(info, 4, kIdlePagesUsage);
  std::string path = ArgString(info, 0, kIdlePagesUsage);
  uint64_t va = static_cast<uint64_t>(ArgInteger(info, 1, 0, kMaxSafeInteger, kIdlePagesUsage));
  size_t maxBytes = static_cast<size_t>(ArgInteger(info, 2, 1, 1 << 30, kIdlePagesUsage));
  unsigned int flags = static_cast<unsigned int>(ArgInteger(info, 3, 0, 4294967295.0, kIdlePagesUsage));
  if (va % 4096 != 0) ThrowUsage(info.Env(), kIdlePagesUsage);
  return (new ReadIdlePagesWorker(info.Env(), std::move(path), va, maxBytes, flags))->QueueAndPromise();
}

}  // namespace

void InitIdle(Napi::Env env, Napi::Object exports) {
  exports.Set("readIdleBitmap", Napi::Function::New(env, ReadIdleBitmap, "readIdleBitmap"));
  exports.Set("writeIdleBitmap", Napi::Function::New(env, WriteIdleBitmap, "writeIdleBitmap"));
  exports.Set("readIdlePages", Napi::Function::New(env, ReadIdlePages, "readIdlePages"));
}

}  // namespace vt
