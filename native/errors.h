// Errors cross the native boundary in one shape: an Error whose `code` is
// the errno name (e.g. "ESRCH"), with numeric `errno` and the `syscall`
// that failed. TypeScript maps them to typed errors (src/native/errors.ts).
#pragma once
#include <napi.h>
#include <string>

namespace vt {

// Builds the Error object for a failed syscall; errnum is the saved errno.
Napi::Error ErrnoError(Napi::Env env, int errnum, const char* syscall);

// Throws a TypeError carrying a usage line, for bad arguments.
[[noreturn]] void ThrowUsage(Napi::Env env, const char* usage);

// The symbolic name of an errno value ("ENOENT"), or "E<n>" when unknown.
std::string ErrnoName(int errnum);

}  // namespace vt
