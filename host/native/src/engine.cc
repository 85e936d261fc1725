// The native batch loop (`datapath.loop: "native"`, docs/WORKERS.md): one epoll set over a
// thread's port fds plus a control eventfd, and the port I/O itself, so that a wake-up costs one
// JS -> native call per batch instead of one per wait, per read, per write and per re-read.
//
// Why: a router wakes up cold (10 ms of idle on a shared host); every JS <-> native transition
// then costs 5-20 us (docs/PERFORMANCE.md, "The native loop: where a cold wake-up's time went"),
// and the JS batch loop made 8-10 of them per wake-up. Here JS calls engineStep(), which
//   1. makes the writes the last batch queued in the flush list (results written back into it),
//   2. reads the next batch: the port of the previous full batch again, then the TAP/TUN ports
//      written in step 1 (a pod's stack answers during our write), then the ports epoll reported,
//      waiting in epoll_wait only when none of these has anything,
// and returns with the batch in the RX slots. JS then makes one Wasm call (loopBatch,
// assembly/loop.ts), which runs the pipeline on it and queues its writes in the flush list.
//
// The reads and writes are the addon's own batch calls (readBatch, recvBatch, writeBatch,
// sendBatch) with the argument arrays the port's JS wrapper registered (engineAddPort), so the
// engine adds no second implementation of any I/O path; only `start` and `count` are patched.
//
// Flush list (a Uint32Array, normally the loop header in Wasm memory: assembly/loop.ts has the
// layout): header words 0 entries queued, 2 port read, 3 slots read, 4 port + 1 whose coalesced
// write was refused with EINVAL (the GRO kill switch; the host clears it), 5 a millisecond clock,
// 6 the next super-packet to split (set to 0 with every read); entries of 6 words from word 8:
// port, kind (0 = TX slots, 1 = coalesced slots), start, count, pipeline packets carried, result.
// engineStep/engineFlush make every queued write, store its result (packets consumed, or
// 0xffffffff when the call threw: the port's fd failed), count it (engineStats) and set word 0
// back to 0.
#include <sched.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "aot.h"
#include "common.h"

namespace weft {

namespace {

constexpr uint32_t kWakeToken = 0xffffffffu;
constexpr int kMaxEvents = 64;
constexpr uint32_t kFlushHeader = 8;
constexpr uint32_t kFlushEntry = 6;
constexpr int EINVAL_ = 22;
constexpr uint32_t kFailed = 0xffffffffu;
constexpr int kFullRounds = 8;  // full batches read from one port before others get a turn
constexpr int kPollEvery = 16;  // batches between two looks at epoll (control requests, other ports)
constexpr uint32_t kNoPort = kWakeToken - 1;
constexpr uint32_t kLightRecv = 8;  // messages a light-load socket read asks for (see ReadPort)

enum Fn : uint32_t { FN_READ = 0, FN_RECV = 1, FN_WRITE = 2, FN_SEND = 3 };
enum StepResult : int { STEP_IDLE = 0, STEP_PACKETS = 1, STEP_CONTROL = 2 };

// A batch call parsed once (engineAddPort): raw pointers into memory the refs keep alive (the
// Wasm memory must not grow while the port is registered; Weft's is fixed at init, docs/ABI.md).
// Invoking it makes no JS/V8 call at all: on a cold wake-up every V8 API call costs ~1 us.
struct Call {
  Fn fn = FN_READ;
  napi_ref args = nullptr;  // the JS array of the call's arguments (keeps its typed arrays alive)
  Slots base{};             // start/count patched per call
  double* st = nullptr;
  int fd = -1;
  RecvParams recv{};
  SendParams send{};
  bool failed = false;  // a read that threw (its fd is dead): no longer watched or read
  bool valid() const { return args != nullptr; }
};

struct Port {
  uint32_t id = 0;
  std::vector<int> fds;
  std::vector<Call> reads;  // tried in order until `readCount` slots are filled
  Call writes[2];           // [TX slots, coalesced slots]
  uint32_t readCount = 0;
  bool reread = false;      // TAP/TUN: read again after a write to it
  std::vector<napi_ref> groWords;  // Uint32Array views: pending while [0] != [1]
  std::vector<uint32_t*> groWordPtrs;
  uint32_t flip = 0;
  uint32_t lastBatch = 0;   // slots the port's last read filled
  bool moreAfterLight = false;  // a light read took its one packet: the next read is whole
};

struct Engine {
  int epfd = -1;
  std::vector<Port> ports;
  napi_ref flushRef = nullptr;
  uint32_t* flush = nullptr;
  size_t flushLength = 0;
  int64_t t0Ms = 0;
  uint32_t ready[kMaxEvents];
  int readyCount = 0, readyPos = 0;
  std::vector<uint32_t> reread;
  int contPort = -1, contRounds = 0;
  int sinceWait = 0;
  int spinUs = 0;
  // waits, wakeups, controlWakeups, batches read, packets written, TX packets dropped (a write
  // took fewer, or failed), coalesced frames written, coalesced writes refused, reads that failed,
  // spin hits (the spin found something: a sleep and a wake-up saved), sleeps (blocking waits)
  static constexpr int kStats = 11;
  double stats[kStats] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

  Port* find(uint32_t id) {
    for (auto& p : ports) if (p.id == id) return &p;
    return nullptr;
  }
};

int64_t NowMs() { return MonotonicNs() / 1000000; }

void DeleteRef(napi_env env, napi_ref& r) {
  if (r) napi_delete_reference(env, r);
  r = nullptr;
}

void ReleasePort(napi_env env, Port& p) {
  for (auto& c : p.reads) DeleteRef(env, c.args);
  for (auto& c : p.writes) DeleteRef(env, c.args);
  for (auto& r : p.groWords) DeleteRef(env, r);
}

Engine* GetEngine(napi_env env, napi_value v) {
  void* data = nullptr;
  if (napi_get_value_external(env, v, &data) != napi_ok || !data) ThrowType(Napi::Env(env), "engine must be an engine handle");
  Engine* e = static_cast<Engine*>(data);
  if (e->epfd < 0) ThrowType(Napi::Env(env), "engine is closed");
  return e;
}

// {fn, args} -> Call, its arguments parsed as the batch call would parse them (args kept by reference).
Call MakeCall(napi_env env, napi_value spec, const char* what, bool read) {
  Call c;
  napi_valuetype t;
  if (napi_typeof(env, spec, &t) != napi_ok || t == napi_undefined || t == napi_null) return c;
  napi_value fn, args;
  if (napi_get_named_property(env, spec, "fn", &fn) != napi_ok || napi_get_named_property(env, spec, "args", &args) != napi_ok)
    ThrowType(Napi::Env(env), std::string(what) + " must be {fn, args}");
  uint32_t f = GetUint32(env, fn, "fn");
  if (f > FN_SEND) ThrowRange(Napi::Env(env), std::string(what) + ".fn out of range");
  if (read != (f == FN_READ || f == FN_RECV)) ThrowType(Napi::Env(env), std::string(what) + (read ? " must be a read call" : " must be a write call"));
  bool isArray = false;
  napi_is_array(env, args, &isArray);
  if (!isArray) ThrowType(Napi::Env(env), std::string(what) + ".args must be an array");
  uint32_t n = 0;
  napi_get_array_length(env, args, &n);
  if (n > kMaxArgs || n < 8) ThrowRange(Napi::Env(env), std::string(what) + ".args has a wrong length");
  Args a;
  a.env = env;
  napi_value undef;
  napi_get_undefined(env, &undef);
  for (uint32_t i = 0; i < kMaxArgs; i++) {
    if (i < n) napi_get_element(env, args, i, &a.argv[i]);
    else a.argv[i] = undef;
  }
  c.fn = static_cast<Fn>(f);
  switch (c.fn) {
    case FN_READ:
    case FN_WRITE:
      c.fd = GetInt32(env, a.argv[0], "fd");
      c.base = GetSlots(a, 1, c.fn == FN_READ);
      c.st = GetStats(env, a.argv[7]);
      break;
    case FN_RECV:
      c.base = GetSlots(a, 1, true);
      c.st = GetStats(env, a.argv[7]);
      c.recv = ParseRecvParams(a);
      c.fd = c.recv.fd;
      break;
    case FN_SEND:
      c.base = GetSlots(a, 2, false);
      c.st = GetStats(env, a.argv[8]);
      c.send = ParseSendParams(a);
      break;
  }
  napi_create_reference(env, args, 1, &c.args);
  return c;
}

// Runs one batch call with [start, start + count); returns packets moved, kFailed when it threw.
uint32_t Invoke(napi_env env, const Call& c, uint32_t start, uint32_t count) {
  try {
    Slots s = c.base;
    s.start = start;
    s.count = count;
    CheckSlots(env, s, c.fn == FN_READ || c.fn == FN_RECV);
    switch (c.fn) {
      case FN_READ: return ReadBatchCore(env, c.fd, s, c.st);
      case FN_WRITE: return WriteBatchCore(env, c.fd, s, c.st);
      case FN_RECV: return RecvBatchCore(env, s, c.st, c.recv);
      case FN_SEND: return SendBatchCore(env, s, c.st, c.send);
    }
  } catch (const Napi::Error&) {
  }
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
  return kFailed;
}

// Makes the queued writes (see the file comment).
void Flush(napi_env env, Engine* e) {
  uint32_t* w = e->flush;
  uint32_t queued = w[0];
  if (kFlushHeader + uint64_t(queued) * kFlushEntry > e->flushLength) ThrowRange(Napi::Env(env), "flush list overflows its array");
  w[0] = 0;
  for (uint32_t i = 0; i < queued; i++) {
    uint32_t* en = w + kFlushHeader + i * kFlushEntry;
    Port* p = e->find(en[0]);
    const uint32_t kind = en[1], count = en[3], packets = en[4];
    if (!p || kind > 1 || !p->writes[kind].valid()) {
      en[5] = kFailed;
      e->stats[5] += packets;
      continue;
    }
    const Call& c = p->writes[kind];
    const double errors0 = c.st ? c.st[STAT_ERRORS] : 0;
    uint32_t r = Invoke(env, c, en[2], count);
    en[5] = r;
    uint32_t sent = r == kFailed ? 0 : r;
    if (kind == 0) {
      e->stats[4] += sent;
      e->stats[5] += packets - (sent < packets ? sent : packets);
    } else {
      // Coalesced: all or nothing for the packets carried. A frame the kernel refused (EINVAL on
      // a merged frame, a kernel regression) turns merging off for the port: reported in word 4.
      double refused = c.st ? c.st[STAT_ERRORS] - errors0 : 0;
      e->stats[6] += sent - refused;
      if (sent == count && refused == 0) e->stats[4] += packets;
      else e->stats[5] += packets;
      if (refused > 0 && count < packets && c.st && c.st[STAT_LAST_ERRNO] == EINVAL_) {
        e->stats[7]++;
        w[4] = p->id + 1;
      }
    }
    if (p->reread && std::find(e->reread.begin(), e->reread.end(), p->id) == e->reread.end()) e->reread.push_back(p->id);
  }
}

bool GroPending(const Port& p) {
  for (const uint32_t* w : p.groWordPtrs) if (w[0] != w[1]) return true;
  return false;
}

// Reads up to readCount slots from port p (its read calls in turn, starting with a different one
// each time so two sockets share fairly). Returns slots filled; 0 on nothing or failure.
// A read that throws has a dead fd (EBADFD after its device was deleted, ...): level-triggered
// epoll would report it again at once, forever, so it is taken out of the set and not read again;
// the control plane removes the port (as the JS loops' callers do).
//
// Light load (the port's last read found one packet or none): a device read (TAP/TUN, one
// syscall per packet) takes one packet, which goes through the pipeline and out before the read
// that would only find the queue empty; that read, whole, and any packets behind it come after
// the writes, from the re-read list. A lone packet (a ping, a request, the answer a pod gives
// during our write to it) then waits for no extra syscall on its way; under load batches are
// full and reads are whole. A socket read (recvmmsg: one syscall for all that is queued) asks
// for kLightRecv messages instead of a whole batch: preparing 256 message headers is ~50 KB of
// writes, most of a cold wake-up's cost for one datagram.
uint32_t ReadPort(napi_env env, Engine* e, Port& p) {
  const bool light = p.lastBatch <= 1 && !p.moreAfterLight;
  p.moreAfterLight = false;
  uint32_t got = 0;
  size_t k = p.reads.size();
  if (k == 0) return 0;
  uint32_t first = p.flip++ % k;
  uint32_t limit = p.readCount;
  for (size_t j = 0; j < k && got < limit; j++) {
    Call& c = p.reads[(first + j) % k];
    if (c.failed) continue;
    if (light) limit = std::min(p.readCount, got + (c.fn == FN_READ ? 1u : kLightRecv));
    uint32_t r = Invoke(env, c, got, limit - got);
    if (r == kFailed) {
      c.failed = true;
      e->stats[8]++;
      if (c.fd >= 0) epoll_ctl(e->epfd, EPOLL_CTL_DEL, c.fd, nullptr);
      continue;
    }
    got += r;
  }
  if (got > 0 && got == limit && limit < p.readCount) {
    p.moreAfterLight = true;
    if (std::find(e->reread.begin(), e->reread.end(), p.id) == e->reread.end()) e->reread.push_back(p.id);
  }
  p.lastBatch = got;
  return got;
}

/** Longest spin (datapath.spinUs): one second. */
constexpr int kSpinMaxUs = 1000000;

// Fills the ready list with what epoll reports within timeoutMs. False on timeout/EINTR.
bool Wait(napi_env env, Engine* e, int timeoutMs) {
  struct epoll_event evs[kMaxEvents];
  int n = 0;
  if (timeoutMs > 0 && e->spinUs > 0) {
    // Poll for a while before sleeping, yielding the CPU to anything runnable on it (a woken pod
    // process) on every round, so a reply that comes back within spinUs skips a wake-up.
    int64_t until = MonotonicNs() + static_cast<int64_t>(e->spinUs) * 1000;
    do {
      n = epoll_wait(e->epfd, evs, kMaxEvents, 0);
      if (n != 0) break;
      sched_yield();
    } while (MonotonicNs() < until);
    if (n > 0) e->stats[9]++;
  }
  if (n == 0) {
    if (timeoutMs > 0) e->stats[10]++;
    n = epoll_wait(e->epfd, evs, kMaxEvents, timeoutMs);
  }
  e->stats[0]++;
  e->sinceWait = 0;
  if (n < 0) {
    if (errno == EINTR) return false;
    ThrowErrno(Napi::Env(env), errno, "epoll_wait");
  }
  if (n == 0) return false;
  e->stats[1]++;
  for (int i = 0; i < n; i++) e->ready[i] = evs[i].data.u32;
  e->readyCount = n;
  e->readyPos = 0;
  return true;
}

// One step (see the file comment). Returns a StepResult; words 2, 3 of the flush list get the port
// and the count for STEP_PACKETS. A control wake-up is returned as soon as epoll reports it, and
// epoll is asked (without waiting) at least every kPollEvery steps, so a busy port cannot keep
// control requests waiting.
int Step(napi_env env, Engine* e, int timeoutMs) {
  Flush(env, e);
  auto deliver = [&](Port& p, uint32_t n) {
    uint32_t* w = e->flush;
    w[2] = p.id;
    w[3] = n;
    w[5] = static_cast<uint32_t>(NowMs() - e->t0Ms);
    w[6] = 0;
    if (n == p.readCount && !(e->contPort == static_cast<int>(p.id) && e->contRounds + 1 >= kFullRounds)) {
      e->contRounds = e->contPort == static_cast<int>(p.id) ? e->contRounds + 1 : 1;
      e->contPort = static_cast<int>(p.id);
    } else {
      e->contPort = -1;
      e->contRounds = 0;
    }
    e->stats[3]++;
    e->sinceWait++;
    return STEP_PACKETS;
  };
  if (e->sinceWait >= kPollEvery) Wait(env, e, 0);
  for (int pass = 0; pass < 2; pass++) {
    // The ready list first when it holds the control token, else after the quick re-reads.
    for (int i = e->readyPos; i < e->readyCount; i++) {
      if (e->ready[i] != kWakeToken) continue;
      e->ready[i] = kNoPort;
      e->stats[2]++;
      return STEP_CONTROL;
    }
    if (e->contPort >= 0) {
      Port* p = e->find(static_cast<uint32_t>(e->contPort));
      if (p) {
        uint32_t n = ReadPort(env, e, *p);
        if (n > 0) return deliver(*p, n);
      }
      e->contPort = -1;
      e->contRounds = 0;
    }
    while (!e->reread.empty()) {
      uint32_t id = e->reread.front();
      e->reread.erase(e->reread.begin());
      Port* p = e->find(id);
      if (!p) continue;
      uint32_t n = ReadPort(env, e, *p);
      if (n > 0) return deliver(*p, n);
    }
    while (e->readyPos < e->readyCount) {
      Port* p = e->find(e->ready[e->readyPos++]);
      if (!p) continue;
      uint32_t n = ReadPort(env, e, *p);
      if (n > 0) return deliver(*p, n);
    }
    bool gro = false;
    for (auto& p : e->ports) {
      if (!p.groWordPtrs.empty() && GroPending(p)) {
        gro = true;
        uint32_t n = ReadPort(env, e, p);
        if (n > 0) return deliver(p, n);
      }
    }
    if (pass == 1 || !Wait(env, e, gro ? 0 : timeoutMs)) break;
  }
  return STEP_IDLE;
}

// engineCreate(wakeFd, flush: Uint32Array, spinUs = 0) -> handle. spinUs > 0 (datapath.spinUs):
// before each sleep, poll that long, yielding the CPU on every round; a spin longer than the gaps
// between packets is a poll mode that still sleeps once traffic stops for spinUs. wakeFd (-1: none) is watched as the
// control token; the flush list is the caller's (see the file comment), kept alive here.
Napi::Value EngineCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int wakeFd = GetInt32(env, info[0], "wakeFd");
  U32s flush = GetU32s(env, info[1], "flush");
  if (flush.length < kFlushHeader + kFlushEntry) ThrowRange(env, "flush must hold at least one entry");
  int spinUs = info.Length() > 2 && !info[2].IsUndefined() ? GetInt32(env, info[2], "spinUs") : 0;
  if (spinUs < 0 || spinUs > kSpinMaxUs) ThrowRange(env, "spinUs must be in 0..1000000");
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) ThrowErrno(env, errno, "epoll_create1");
  if (wakeFd >= 0) {
    struct epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = kWakeToken;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, wakeFd, &ev) != 0) {
      int err = errno;
      close(ep);
      ThrowErrno(env, err, "epoll_ctl", "EPOLL_CTL_ADD wakeFd");
    }
  }
  Engine* e = new Engine();
  e->epfd = ep;
  napi_create_reference(env, info[1], 1, &e->flushRef);
  e->flush = flush.data;
  e->flushLength = flush.length;
  e->t0Ms = NowMs();
  e->spinUs = spinUs;
  std::memset(flush.data, 0, kFlushHeader * 4);
  // engineClose releases everything; a handle dropped without it is cleaned up when collected.
  return Napi::External<Engine>::New(env, e, [](Napi::Env env, Engine* e) {
    if (e->epfd >= 0) {
      for (auto& p : e->ports) ReleasePort(env, p);
      DeleteRef(env, e->flushRef);
      close(e->epfd);
    }
    delete e;
  });
}

// engineAddPort(engine, port, fds: number[], reads: {fn, args}[], writes: [{fn, args} | null,
//               {fn, args} | null], readCount, reread: boolean, groWords: Uint32Array[])
// Replaces a port of the same id. All-or-nothing: a bad argument or epoll_ctl failure leaves the
// engine as it was.
Napi::Value EngineAddPort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine* e = GetEngine(env, info[0]);
  Port p;
  p.id = GetUint32(env, info[1], "port");
  if (p.id >= kNoPort) ThrowRange(env, "port id reserved");
  if (!info[2].IsArray() || !info[3].IsArray() || !info[4].IsArray() || !info[7].IsArray())
    ThrowType(env, "fds, reads, writes and groWords must be arrays");
  Napi::Array fds = info[2].As<Napi::Array>(), reads = info[3].As<Napi::Array>(), writes = info[4].As<Napi::Array>(),
              gw = info[7].As<Napi::Array>();
  p.readCount = GetUint32(env, info[5], "readCount");
  p.reread = info[6].ToBoolean();
  try {
    for (uint32_t i = 0; i < fds.Length(); i++) p.fds.push_back(GetInt32(env, fds.Get(i), "fd"));
    for (uint32_t i = 0; i < reads.Length(); i++) {
      Call c = MakeCall(env, reads.Get(i), "reads[i]", true);
      if (!c.valid()) ThrowType(env, "reads[i] must be a read call");
      p.reads.push_back(c);
    }
    for (uint32_t i = 0; i < 2 && i < writes.Length(); i++) {
      p.writes[i] = MakeCall(env, writes.Get(i), "writes[i]", false);
    }
    for (uint32_t i = 0; i < gw.Length(); i++) {
      Napi::Value v = gw.Get(i);
      U32s w = GetU32s(env, v, "groWords[i]");
      if (w.length < 2) ThrowRange(env, "groWords[i] must hold two words");
      p.groWordPtrs.push_back(w.data);
      napi_ref r;
      napi_create_reference(env, v, 1, &r);
      p.groWords.push_back(r);
    }
  } catch (...) {
    ReleasePort(env, p);
    throw;
  }
  // Stop watching the old fds of this id first, then watch the new ones (undo on failure).
  Port* old = e->find(p.id);
  if (old) for (int fd : old->fds) epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, nullptr);
  size_t added = 0;
  for (; added < p.fds.size(); added++) {
    struct epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = p.id;
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, p.fds[added], &ev) != 0) {
      int err = errno;
      for (size_t j = 0; j < added; j++) epoll_ctl(e->epfd, EPOLL_CTL_DEL, p.fds[j], nullptr);
      if (old) for (int fd : old->fds) {
        struct epoll_event o{};
        o.events = EPOLLIN;
        o.data.u32 = old->id;
        epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &o);
      }
      ReleasePort(env, p);
      ThrowErrno(env, err, "epoll_ctl", "EPOLL_CTL_ADD");
    }
  }
  if (old) {
    ReleasePort(env, *old);
    *old = std::move(p);
  } else {
    e->ports.push_back(std::move(p));
  }
  return env.Undefined();
}

// engineRemovePort(engine, port): stops watching and forgets it (before its fds are closed).
Napi::Value EngineRemovePort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine* e = GetEngine(env, info[0]);
  uint32_t id = GetUint32(env, info[1], "port");
  for (size_t i = 0; i < e->ports.size(); i++) {
    if (e->ports[i].id != id) continue;
    for (int fd : e->ports[i].fds) epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, nullptr);
    ReleasePort(env, e->ports[i]);
    e->ports.erase(e->ports.begin() + static_cast<long>(i));
    break;
  }
  e->reread.erase(std::remove(e->reread.begin(), e->reread.end(), id), e->reread.end());
  if (e->contPort == static_cast<int>(id)) e->contPort = -1;
  for (int i = e->readyPos; i < e->readyCount; i++)
    if (e->ready[i] == id) e->ready[i] = kNoPort;  // no such port: skipped
  return env.Undefined();
}

// engineStep(engine, timeoutMs) -> 0 idle (timeout), 1 packets (flush words 2, 3), 2 control.
Napi::Value EngineStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine* e = GetEngine(env, info[0]);
  int timeout = GetInt32(env, info[1], "timeoutMs");
  return Napi::Number::New(env, Step(env, e, timeout));
}

// engineRun(engine, aot, timeoutMs) -> 0 idle (a wait timed out), 1 a coalesced write was refused
// (flush word 4: the JS loop turns merging off for that port and calls again), 2 control. Between
// those it loops here: a step, then the batch through the AOT module's loopBatch (again while it
// asks for the queued writes to go out first, as the JS loop does), with no JS in between.
Napi::Value EngineRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine* e = GetEngine(env, info[0]);
  AotInstance* aot = GetAotInstance(env, info[1]);
  int timeout = GetInt32(env, info[2], "timeoutMs");
  for (;;) {
    int r = Step(env, e, timeout);
    if (r != STEP_PACKETS) return Napi::Number::New(env, r);
    uint32_t more = 0;
    for (;;) {
      int trap = AotLoopBatch(aot, &more);
      if (trap) ThrowType(env, std::string("the AOT data plane trapped in loopBatch: ") + AotTrapName(trap));
      if (more != 1) break;
      Flush(env, e);
    }
    if (e->flush[4] != 0) return Napi::Number::New(env, 1);
  }
}

// engineFlush(engine): writes the queued entries now (before the slots they use are reused).
Napi::Value EngineFlush(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Flush(env, GetEngine(env, info[0]));
  return env.Undefined();
}

// engineStats(engine) -> [epoll waits, wake-ups with something ready, control wake-ups, batches
// read, packets written, TX packets dropped, coalesced frames written, coalesced writes refused,
// reads that failed (their fds are no longer watched)].
Napi::Value EngineStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine* e = GetEngine(env, info[0]);
  Napi::Array r = Napi::Array::New(env, Engine::kStats);
  for (uint32_t i = 0; i < Engine::kStats; i++) r.Set(i, e->stats[i]);
  return r;
}

// engineClose(engine): releases everything; the port fds stay open (their owners close them).
Napi::Value EngineClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  void* data = nullptr;
  if (napi_get_value_external(env, info[0], &data) != napi_ok || !data) ThrowType(env, "engine must be an engine handle");
  Engine* e = static_cast<Engine*>(data);
  if (e->epfd < 0) return env.Undefined();
  for (auto& p : e->ports) ReleasePort(env, p);
  e->ports.clear();
  DeleteRef(env, e->flushRef);
  close(e->epfd);
  e->epfd = -1;
  return env.Undefined();
}

}  // namespace

void InitEngine(Napi::Env env, Napi::Object exports) {
  exports.Set("engineCreate", Napi::Function::New(env, EngineCreate, "engineCreate"));
  exports.Set("engineAddPort", Napi::Function::New(env, EngineAddPort, "engineAddPort"));
  exports.Set("engineRemovePort", Napi::Function::New(env, EngineRemovePort, "engineRemovePort"));
  exports.Set("engineStep", Napi::Function::New(env, EngineStep, "engineStep"));
  exports.Set("engineFlush", Napi::Function::New(env, EngineFlush, "engineFlush"));
  exports.Set("engineRun", Napi::Function::New(env, EngineRun, "engineRun"));
  exports.Set("engineStats", Napi::Function::New(env, EngineStats, "engineStats"));
  exports.Set("engineClose", Napi::Function::New(env, EngineClose, "engineClose"));
}

}  // namespace weft
