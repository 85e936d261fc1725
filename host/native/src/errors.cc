#include <uv.h>

#include <cerrno>
#include <cstring>

#include "common.h"

namespace weft {

const char* ErrnoName(int err) {
  // libuv's names are node's names (err.code of fs and net errors); glibc knows the rest
  // (EBADFD, for a TUN fd whose device was deleted).
  const char* n = uv_err_name(uv_translate_sys_error(err));
  if (std::strncmp(n, "Unknown", 7) != 0) return n;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* g = strerrorname_np(err);
  if (g) return g;
#endif
  return "EUNKNOWN";
}

void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& detail) {
  std::string msg = std::string(ErrnoName(err)) + ": " + std::strerror(err) + ", " + syscall;
  if (!detail.empty()) msg += " " + detail;
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  throw e;
}

void ThrowRange(Napi::Env env, const std::string& msg) { throw Napi::RangeError::New(env, msg); }
void ThrowType(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }

bool IsFdFatal(int err) {
  switch (err) {
    case EBADF:
    case EBADFD:
    case EFAULT:
    case ENOTSOCK:
    case ENOTCONN:
    case EDESTADDRREQ:
    case ENODEV:
    case ENXIO:
    case EOPNOTSUPP:
      return true;
    default:
      return false;
  }
}

}  // namespace weft
