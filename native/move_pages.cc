// move_pages(2) on another process: query (nodes == NULL) or migrate pages.
// Called through syscall() because libnuma is not a dependency. Large lists
// are split into batches: the kernel walks each call's list holding
// mmap_lock, so one huge call would stall the target's page faults for the
// whole walk (mm/migrate.c, do_pages_move / do_pages_stat).
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <vector>

#include "args.h"
#include "exports.h"
#include "worker.h"

namespace vt {

namespace {

constexpr size_t kMovePagesBatch = 16384;
constexpr const char* kUsage =
    "movePages(pid: integer > 0, addrs: Float64Array, nodes: Int32Array | null (same length as addrs), "
    "flags: 0 | 2 (MPOL_MF_MOVE) | 4 (MPOL_MF_MOVE_ALL))";

class MovePagesWorker : public PromiseWorker {
 public:
  MovePagesWorker(Napi::Env env, int pid, std::vector<uint64_t> addrs, std::vector<int> nodes, bool query, int flags)
      : PromiseWorker(env), pid_(pid), addrs_(std::move(addrs)), nodes_(std::move(nodes)), query_(query), flags_(flags),
        status_(addrs_.size(), 0) {}

 protected:
  void Execute() override {
    std::vector<void*> pages(addrs_.size());
    for (size_t i = 0; i < addrs_.size(); i++) pages[i] = reinterpret_cast<void*>(addrs_[i]);
    for (size_t off = 0; off < pages.size(); off += kMovePagesBatch) {
      size_t n = std::min(kMovePagesBatch, pages.size() - off);
      // A positive return is the number of pages not migrated; their status
      // entries carry the per-page negative errno, so it is not an error.
      long rc = syscall(SYS_move_pages, pid_, n, pages.data() + off, query_ ? nullptr : nodes_.data() + off,
                        status_.data() + off, flags_);
      if (rc < 0) {
        Fail(errno, "move_pages");
        return;
      }
    }
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Int32Array out = Napi::Int32Array::New(env, status_.size());
    std::copy(status_.begin(), status_.end(), out.Data());
    return out;
  }

 private:
  int pid_;
  std::vector<uint64_t> addrs_;
  std::vector<int> nodes_;
  bool query_;
  int flags_;
  std::vector<int> status_;
};

Napi::Value MovePages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArgCountAtMost(info, 4, kUsage);
  int pid = ArgPid(info, 0, kUsage);
  std::vector<uint64_t> addrs = ArgU64List(info, 1, kUsage);
  bool query = info.Length() > 2 && info[2].IsNull();
  std::vector<int> nodes;
  if (!query) {
    if (info.Length() <= 2 || !info[2].IsTypedArray()) ThrowUsage(env, kUsage);
    Napi::TypedArray ta = info[2].As<Napi::TypedArray>();
    if (ta.TypedArrayType() != napi_int32_array || ta.ElementLength() != addrs.size()) ThrowUsage(env, kUsage);
    Napi::Int32Array arr = ta.As<Napi::Int32Array>();
    nodes.assign(arr.Data(), arr.Data() + arr.ElementLength());
  }
  int flags = static_cast<int>(ArgInteger(info, 3, 0, 4, kUsage));
  if (flags != 0 && flags != 2 && flags != 4) ThrowUsage(env, kUsage);
  auto* worker = new MovePagesWorker(env, pid, std::move(addrs), std::move(nodes), query, flags);
  return worker->QueueAndPromise();
}

}  // namespace

void InitMovePages(Napi::Env env, Napi::Object exports) {
  exports.Set("movePages", Napi::Function::New(env, MovePages, "movePages"));
}

}  // namespace vt
