// process_madvise(2) on another process, addressed by a pidfd so a PID that
// is recycled between lookup and advice cannot be hit (pidfd_open(2)).
// Both are called through syscall(): glibc 2.36 has no wrappers. The kernel
// accepts at most UIO_MAXIOV (IOV_MAX, 1024) iovecs per call (mm/madvise.c).
#include <limits.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <vector>

#include "args.h"
#include "exports.h"
#include "worker.h"

namespace vt {

namespace {

constexpr size_t kIovBatch = IOV_MAX;
constexpr const char* kUsage =
    "processMadvise(pid: integer > 0, ranges: Float64Array [start0, len0, start1, len1, ...], "
    "advice: integer >= 0 (MADV_COLD 20, MADV_PAGEOUT 21))";

class ProcessMadviseWorker : public PromiseWorker {
 public:
  ProcessMadviseWorker(Napi::Env env, int pid, std::vector<uint64_t> ranges, int advice)
      : PromiseWorker(env), pid_(pid), ranges_(std::move(ranges)), advice_(advice) {}

 protected:
  void Execute() override {
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd < 0) {
      Fail(errno, "pidfd_open");
      return;
    }
    std::vector<struct iovec> iov;
    for (size_t i = 0; i + 1 < ranges_.size(); i += 2) {
      if (ranges_[i + 1] == 0) continue;
      iov.push_back({reinterpret_cast<void*>(ranges_[i]), static_cast<size_t>(ranges_[i + 1])});
    }
    size_t next = 0;
    while (next < iov.size()) {
      size_t n = std::min(kIovBatch, iov.size() - next);
      size_t want = 0;
      for (size_t k = 0; k < n; k++) want += iov[next + k].iov_len;
      long rc = syscall(SYS_process_madvise, pidfd, iov.data() + next, n, advice_, 0U);
      if (rc < 0) {
        Fail(errno, "process_madvise");
        break;
      }
      advised_ += static_cast<uint64_t>(rc);
      if (static_cast<size_t>(rc) >= want) {
        next += n;
        continue;
      }
      // Partial: the kernel stopped inside this batch (a later range failed,
      // or the total hit MAX_RW_COUNT). Skip what was done and call again, so
      // the next call either progresses or reports the errno.
      size_t done = static_cast<size_t>(rc);
      while (done > 0 && next < iov.size()) {
        if (done >= iov[next].iov_len) {
          done -= iov[next].iov_len;
          next++;
        } else {
          iov[next].iov_base = static_cast<char*>(iov[next].iov_base) + done;
          iov[next].iov_len -= done;
          done = 0;
        }
      }
    }
    close(pidfd);
  }

  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(advised_)); }

  // A rejection still says how much was advised before the failure.
  void Decorate(Napi::Error& err) override { err.Set("bytesAdvised", Napi::Number::New(Env(), static_cast<double>(advised_))); }

 private:
  int pid_;
  std::vector<uint64_t> ranges_;
  int advice_;
  uint64_t advised_ = 0;
};

Napi::Value ProcessMadvise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArgCountAtMost(info, 3, kUsage);
  int pid = ArgPid(info, 0, kUsage);
  std::vector<uint64_t> ranges = ArgU64List(info, 1, kUsage);
  if (ranges.size() % 2 != 0) ThrowUsage(env, kUsage);
  int advice = static_cast<int>(ArgInteger(info, 2, 0, 255, kUsage));
  auto* worker = new ProcessMadviseWorker(env, pid, std::move(ranges), advice);
  return worker->QueueAndPromise();
}

}  // namespace

void InitProcessMadvise(Napi::Env env, Napi::Object exports) {
  exports.Set("processMadvise", Napi::Function::New(env, ProcessMadvise, "processMadvise"));
}

}  // namespace vt
