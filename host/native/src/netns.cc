#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "common.h"

namespace weft {

NetnsScope::NetnsScope(Napi::Env env, const std::string& path) {
  if (path.empty()) return;
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) ThrowErrno(env, errno, "open", "/proc/thread-self/ns/net");
  int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    close(self);
    ThrowErrno(env, err, "open", path);
  }
  if (setns(target, CLONE_NEWNET) != 0) {
    int err = errno;
    close(target);
    close(self);
    ThrowErrno(env, err, "setns", path);
  }
  close(target);
  self_ = self;
}

NetnsScope::~NetnsScope() {
  if (self_ < 0) return;
  if (setns(self_, CLONE_NEWNET) != 0) {
    // Continuing in the wrong namespace would silently misroute everything afterwards.
    std::perror("weft_io: cannot return to the original network namespace");
    std::abort();
  }
  close(self_);
}

}  // namespace weft
