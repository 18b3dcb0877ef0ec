// A Promise-returning AsyncWorker base: Execute() runs on the libuv pool and
// records a failed syscall as (errno, name) instead of a message, so the
// rejection carries the same `code`/`errno`/`syscall` shape as synchronous
// failures (errors.h). Subclasses build the resolved value in Result().
#pragma once
#include <napi.h>

#include "errors.h"

namespace vt {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  // Queues the worker and returns its promise (the worker deletes itself).
  Napi::Value QueueAndPromise() {
    Napi::Promise p = deferred_.Promise();
    Queue();
    return p;
  }

 protected:
  // Call from Execute() when a syscall fails; the first failure wins.
  void Fail(int errnum, const char* syscall) {
    if (errnum_ == 0) {
      errnum_ = errnum;
      syscall_ = syscall;
    }
  }

  virtual Napi::Value Result(Napi::Env env) = 0;

  // Extra properties for the rejection (e.g. partial progress).
  virtual void Decorate(Napi::Error& /*err*/) {}

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (errnum_ != 0) {
      Napi::Error err = ErrnoError(env, errnum_, syscall_);
      Decorate(err);
      deferred_.Reject(err.Value());
      return;
    }
    deferred_.Resolve(Result(env));
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  int errnum_ = 0;
  const char* syscall_ = "";
};

}  // namespace vt
