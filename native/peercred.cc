// SO_PEERCRED for the control socket: Node's net module does not expose the
// peer's credentials, and the daemon must accept root peers only, checked by
// the kernel's record of who connected rather than by socket file modes
// (abstract sockets have no file mode at all). See unix(7).
#include <sys/socket.h>
#include <cerrno>

#include "errors.h"
#include "exports.h"

namespace vt {

// getPeerCred(fd: number): { pid, uid, gid }
static Napi::Value GetPeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber()) ThrowUsage(env, "getPeerCred(fd: integer >= 0)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd < 0) ThrowUsage(env, "getPeerCred(fd: integer >= 0)");
  struct ucred cred {};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    throw ErrnoError(env, errno, "getsockopt(SO_PEERCRED)");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

void InitPeerCred(Napi::Env env, Napi::Object exports) {
  exports.Set("getPeerCred", Napi::Function::New(env, GetPeerCred, "getPeerCred"));
}

}  // namespace vt
