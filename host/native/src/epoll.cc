// A blocking readiness wait for a data-plane thread that runs its batch loop without libuv:
// one epoll set over the thread's port fds plus an eventfd another thread signals when it has
// posted a control message. The caller blocks in ONE call (epollWait), gets the tokens of the
// ready fds, drains them and calls again; no event-loop turn in between.
//
// Level-triggered (like uv_poll): a token is reported again while its fd stays readable.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "common.h"

namespace weft {

namespace {

constexpr int kMaxEvents = 64;

// epollCreate() -> epfd (close with closeFd).
Napi::Value EpollCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) ThrowErrno(env, errno, "epoll_create1");
  return Napi::Number::New(env, fd);
}

// epollAdd(epfd, fd, token): watch fd for readable (level-triggered); token (uint32) is reported.
Napi::Value EpollAdd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ep = GetInt32(env, info[0], "epfd");
  int fd = GetInt32(env, info[1], "fd");
  uint32_t token = GetUint32(env, info[2], "token");
  struct epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u32 = token;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) ThrowErrno(env, errno, "epoll_ctl", "EPOLL_CTL_ADD");
  return env.Undefined();
}

// epollDel(epfd, fd): stop watching; ENOENT/EBADF (already gone) are ignored.
Napi::Value EpollDel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ep = GetInt32(env, info[0], "epfd");
  int fd = GetInt32(env, info[1], "fd");
  struct epoll_event ev{};
  if (epoll_ctl(ep, EPOLL_CTL_DEL, fd, &ev) != 0 && errno != ENOENT && errno != EBADF)
    ThrowErrno(env, errno, "epoll_ctl", "EPOLL_CTL_DEL");
  return env.Undefined();
}

// epollWait(epfd, out: Uint32Array, timeoutMs, spinUs) -> n: the tokens of up to out.length ready
// fds in out[0..n). With spinUs > 0 the set is first polled without blocking for that long
// (busy: costs a CPU), then the call blocks up to timeoutMs. 0 on timeout or EINTR.
Napi::Value EpollWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ep = GetInt32(env, info[0], "epfd");
  U32s out = GetU32s(env, info[1], "out");
  int timeout = GetInt32(env, info[2], "timeoutMs");
  int spinUs = GetInt32(env, info[3], "spinUs");
  struct epoll_event evs[kMaxEvents];
  int max = static_cast<int>(out.length < kMaxEvents ? out.length : kMaxEvents);
  if (max <= 0) ThrowType(env, "out must have room for at least one token");
  int n = 0;
  if (spinUs > 0) {
    int64_t until = MonotonicNs() + static_cast<int64_t>(spinUs) * 1000;
    do {
      n = epoll_wait(ep, evs, max, 0);
    } while (n == 0 && MonotonicNs() < until);
  }
  if (n == 0) n = epoll_wait(ep, evs, max, timeout);
  if (n < 0) {
    if (errno == EINTR) return Napi::Number::New(env, 0);
    ThrowErrno(env, errno, "epoll_wait");
  }
  for (int i = 0; i < n; i++) out.data[i] = evs[i].data.u32;
  return Napi::Number::New(env, n);
}

// eventfdCreate() -> fd (non-blocking; close with closeFd).
Napi::Value EventfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) ThrowErrno(env, errno, "eventfd");
  return Napi::Number::New(env, fd);
}

// eventfdSignal(fd): adds 1 (wakes a waiter); a saturated counter (EAGAIN) is already signalled.
Napi::Value EventfdSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = GetInt32(env, info[0], "fd");
  uint64_t one = 1;
  if (write(fd, &one, sizeof one) < 0 && errno != EAGAIN) ThrowErrno(env, errno, "write", "eventfd");
  return env.Undefined();
}

// eventfdDrain(fd) -> count read (0 when not signalled).
Napi::Value EventfdDrain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = GetInt32(env, info[0], "fd");
  uint64_t v = 0;
  if (read(fd, &v, sizeof v) < 0) {
    if (errno == EAGAIN) return Napi::Number::New(env, 0);
    ThrowErrno(env, errno, "read", "eventfd");
  }
  return Napi::Number::New(env, static_cast<double>(v));
}

}  // namespace

void InitEpoll(Napi::Env env, Napi::Object exports) {
  exports.Set("epollCreate", Napi::Function::New(env, EpollCreate, "epollCreate"));
  exports.Set("epollAdd", Napi::Function::New(env, EpollAdd, "epollAdd"));
  exports.Set("epollDel", Napi::Function::New(env, EpollDel, "epollDel"));
  exports.Set("epollWait", Napi::Function::New(env, EpollWait, "epollWait"));
  exports.Set("eventfdCreate", Napi::Function::New(env, EventfdCreate, "eventfdCreate"));
  exports.Set("eventfdSignal", Napi::Function::New(env, EventfdSignal, "eventfdSignal"));
  exports.Set("eventfdDrain", Napi::Function::New(env, EventfdDrain, "eventfdDrain"));
}

}  // namespace weft
