// The export table of the virt-tier addon. The addon is thin and stateless:
// each export is one kernel operation; validation and policy live in
// TypeScript (src/native/index.ts re-exports these with types).
#include <napi.h>

#include "exports.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  vt::InitPeerCred(env, exports);
  vt::InitMovePages(env, exports);
  vt::InitProcessMadvise(env, exports);
  vt::InitPagemap(env, exports);
  vt::InitIdle(env, exports);
  vt::InitResidency(env, exports);
  vt::InitPageStates(env, exports);
  return exports;
}

NODE_API_MODULE(virt_tier, Init)
