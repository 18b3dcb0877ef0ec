// One Init function per kernel facility; addon.cc calls them all to build
// the flat export table. Add a facility: a new .cc, a line here, a line in
// addon.cc, its types in src/native/native.d.ts.
#pragma once
#include <napi.h>

namespace vt {
void InitPeerCred(Napi::Env env, Napi::Object exports);
void InitMovePages(Napi::Env env, Napi::Object exports);
void InitProcessMadvise(Napi::Env env, Napi::Object exports);
void InitPagemap(Napi::Env env, Napi::Object exports);
void InitIdle(Napi::Env env, Napi::Object exports);
void InitResidency(Napi::Env env, Napi::Object exports);
void InitPageStates(Napi::Env env, Napi::Object exports);
}  // namespace vt
