// Argument re-checks shared by every facility. TypeScript validates first
// (src/native/*.ts); these checks exist so a wrong call from JS can never
// reach a syscall with garbage: each failure throws TypeError with the
// function's usage line and `code` ERR_INVALID_ARG.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "errors.h"

namespace vt {

// Largest integer a double holds exactly; addresses and sizes above it
// cannot be represented in JS without loss.
constexpr double kMaxSafeInteger = 9007199254740991.0;

inline bool IsIntegral(double v, double min, double max) {
  return std::isfinite(v) && std::floor(v) == v && v >= min && v <= max;
}

// An integer argument in [min, max], else ThrowUsage.
inline int64_t ArgInteger(const Napi::CallbackInfo& info, size_t i, double min, double max, const char* usage) {
  if (info.Length() <= i || !info[i].IsNumber()) ThrowUsage(info.Env(), usage);
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!IsIntegral(v, min, max)) ThrowUsage(info.Env(), usage);
  return static_cast<int64_t>(v);
}

inline int ArgPid(const Napi::CallbackInfo& info, size_t i, const char* usage) {
  return static_cast<int>(ArgInteger(info, i, 1, 2147483647.0, usage));
}

inline int ArgFd(const Napi::CallbackInfo& info, size_t i, const char* usage) {
  return static_cast<int>(ArgInteger(info, i, 0, 2147483647.0, usage));
}

inline std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* usage) {
  if (info.Length() <= i || !info[i].IsString()) ThrowUsage(info.Env(), usage);
  std::string s = info[i].As<Napi::String>().Utf8Value();
  if (s.empty() || s.find('\0') != std::string::npos) ThrowUsage(info.Env(), usage);
  return s;
}

// Copies a Float64Array of non-negative integers (addresses, lengths) into
// a vector, so the worker thread never reads memory the JS heap owns.
inline std::vector<uint64_t> ArgU64List(const Napi::CallbackInfo& info, size_t i, const char* usage) {
  if (info.Length() <= i || !info[i].IsTypedArray()) ThrowUsage(info.Env(), usage);
  Napi::TypedArray ta = info[i].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_float64_array) ThrowUsage(info.Env(), usage);
  Napi::Float64Array arr = ta.As<Napi::Float64Array>();
  std::vector<uint64_t> out(arr.ElementLength());
  const double* data = arr.Data();
  for (size_t k = 0; k < out.size(); k++) {
    if (!IsIntegral(data[k], 0, kMaxSafeInteger)) ThrowUsage(info.Env(), usage);
    out[k] = static_cast<uint64_t>(data[k]);
  }
  return out;
}

// A Buffer or Uint8Array argument: pointer and length of its bytes.
inline Napi::Uint8Array ArgBytes(const Napi::CallbackInfo& info, size_t i, const char* usage) {
  if (info.Length() <= i || !info[i].IsTypedArray()) ThrowUsage(info.Env(), usage);
  Napi::TypedArray ta = info[i].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint8_array) ThrowUsage(info.Env(), usage);
  return ta.As<Napi::Uint8Array>();
}

inline void ArgCountAtMost(const Napi::CallbackInfo& info, size_t max, const char* usage) {
  if (info.Length() > max) ThrowUsage(info.Env(), usage);
}

}  // namespace vt
