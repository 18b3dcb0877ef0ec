#include "errors.h"

#include <cerrno>
#include <cstring>

namespace vt {

std::string ErrnoName(int errnum) {
  // strerrorname_np is glibc >= 2.32 (Debian 12 ships 2.36).
  const char* name = strerrorname_np(errnum);
  if (name != nullptr) return name;
  return "E" + std::to_string(errnum);
}

Napi::Error ErrnoError(Napi::Env env, int errnum, const char* syscall) {
  std::string code = ErrnoName(errnum);
  std::string message = std::string(syscall) + " failed: " + code + " (" + strerror(errnum) + ")";
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  err.Set("errno", Napi::Number::New(env, errnum));
  err.Set("syscall", Napi::String::New(env, syscall));
  return err;
}

void ThrowUsage(Napi::Env env, const char* usage) {
  Napi::TypeError err = Napi::TypeError::New(env, std::string("usage: ") + usage);
  err.Set("code", Napi::String::New(env, "ERR_INVALID_ARG"));
  throw err;
}

}  // namespace vt
