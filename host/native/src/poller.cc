// Readiness of an fd through libuv (uv_poll, level-triggered epoll): one JS callback per
// readiness event of the event loop, never one per packet.
#include <uv.h>

#include "common.h"

namespace weft {

namespace {

class Poller;

// Lives until libuv has closed the poll handle. An async cleanup hook stays registered until then,
// so a worker thread's environment (and this library) is not torn down while libuv still owes
// us the close callback.
struct PollHandle {
  uv_poll_t poll;
  Poller* owner;
  napi_async_cleanup_hook_handle hook;
  bool closing;
};

void OnClosed(uv_handle_t* h) {
  PollHandle* ph = static_cast<PollHandle*>(h->data);
  if (ph->hook) napi_remove_async_cleanup_hook(ph->hook);
  delete ph;
}

void BeginClose(PollHandle* ph) {
  if (ph->closing) return;
  ph->closing = true;
  ph->owner = nullptr;
  uv_poll_stop(&ph->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&ph->poll), OnClosed);
}

// new Poller(fd, callback(events: number, status: number)); status < 0 is a libuv error code.
class Poller : public Napi::ObjectWrap<Poller> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Poller",
                       {InstanceMethod<&Poller::Start>("start"), InstanceMethod<&Poller::Stop>("stop"),
                        InstanceMethod<&Poller::Close>("close")});
  }

  explicit Poller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Poller>(info) {
    Napi::Env env = info.Env();
    int fd = GetInt32(env, info[0], "fd");
    if (!info[1].IsFunction()) ThrowType(env, "callback must be a function");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) ThrowType(env, "no event loop");
    h_ = new PollHandle{};
    h_->owner = this;
    h_->poll.data = h_;
    int rc = uv_poll_init(loop, &h_->poll, fd);
    if (rc != 0) {
      delete h_;
      h_ = nullptr;
      ThrowErrno(env, -rc, "uv_poll_init");
    }
    cb_ = Napi::Persistent(info[1].As<Napi::Function>());
    if (napi_add_async_cleanup_hook(env, &Poller::EnvCleanup, h_, &h_->hook) != napi_ok) h_->hook = nullptr;
  }

  ~Poller() override { CloseHandle(); }

 private:
  // start(events: 1 readable | 2 writable): replaces the watched set; 0 stops.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int events = GetInt32(env, info[0], "events") & (UV_READABLE | UV_WRITABLE);
    if (!h_) ThrowErrno(env, EBADF, "uv_poll_start", "(poller closed)");
    if (events == 0) return Stop(info);
    int rc = uv_poll_start(&h_->poll, events, &Poller::OnPoll);
    if (rc != 0) ThrowErrno(env, -rc, "uv_poll_start");
    if (!refd_) {
      Ref();  // stay alive while watching, even if JS drops the object
      refd_ = true;
    }
    return env.Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (h_) uv_poll_stop(&h_->poll);
    DropRef();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseHandle();
    DropRef();
    return info.Env().Undefined();
  }

  void DropRef() {
    if (refd_) {
      refd_ = false;
      Unref();
    }
  }

  void CloseHandle() {
    if (!h_) return;
    BeginClose(h_);
    h_ = nullptr;
  }

  // The environment is going away (worker exit) with the handle still open: close it; OnClosed
  // removes the hook, which lets teardown continue.
  static void EnvCleanup(napi_async_cleanup_hook_handle, void* arg) {
    PollHandle* h = static_cast<PollHandle*>(arg);
    if (h->owner) h->owner->h_ = nullptr;
    BeginClose(h);
  }

  static void OnPoll(uv_poll_t* p, int status, int events) {
    PollHandle* h = static_cast<PollHandle*>(p->data);
    Poller* self = h->owner;
    if (!self) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    try {
      self->cb_.MakeCallback(self->Value(), {Napi::Number::New(env, events), Napi::Number::New(env, status)});
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());  // surfaces as 'uncaughtException', like any event callback
    }
  }

  PollHandle* h_ = nullptr;
  Napi::FunctionReference cb_;
  bool refd_ = false;
};

}  // namespace

void InitPoller(Napi::Env env, Napi::Object exports) {
  exports.Set("Poller", Poller::Define(env));
  exports.Set("READABLE", Napi::Number::New(env, UV_READABLE));
  exports.Set("WRITABLE", Napi::Number::New(env, UV_WRITABLE));
}

}  // namespace weft
