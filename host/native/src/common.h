// Shared declarations of the weft_io addon.
//
// Contract of every batch call: it moves packets between one fd (or socket) and slots of ONE
// memory given by the caller (a Wasm memory's ArrayBuffer or any typed array over it). Slot i of
// the batch is `offsets[i]` (byte offset into that memory) with room `capacity` (a number for all
// slots, or capacities[i]); `lengths[i]` is the packet length (written on receive, read on send).
// A call covers slots [start, start + count). Nothing is allocated per packet; no JS value is
// created per packet. EAGAIN ends a call early and is not an error. Errors that concern one packet
// (a bad packet, no route) drop that packet and are counted in `stats`; errors that concern the
// fd (EBADF, EBADFD, ...) throw, unless packets were already moved in that call: then the call
// returns them and the next call throws.
#pragma once

#include <napi.h>
#include <time.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace weft {

// ---- errors ------------------------------------------------------------------------------------
// Throws a JS Error with code = errno name ("EBADF"), errno = -err (as node does), syscall.
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& detail = "");
[[noreturn]] void ThrowRange(Napi::Env env, const std::string& msg);
[[noreturn]] void ThrowType(Napi::Env env, const std::string& msg);
const char* ErrnoName(int err);
// True when an error concerns the fd itself, not one packet: the call throws.
bool IsFdFatal(int err);

// ---- arguments ---------------------------------------------------------------------------------
// The batch calls read their arguments through the plain N-API C calls below (one
// napi_get_typedarray_info per array, arguments on the stack): they run once per batch and their
// fixed cost is what a one-packet batch pays. Failures throw Napi::Error (C++), which the
// WEFT_RAW_CALLBACK wrapper turns into a JS exception.
constexpr size_t kMaxArgs = 14;
struct Args {
  napi_env env;
  napi_value argv[kMaxArgs];
};
Args GetArgs(napi_env env, napi_callback_info info);

struct Bytes {
  uint8_t* data;
  size_t length;
};
// An ArrayBuffer, a SharedArrayBuffer-backed or plain TypedArray, or a DataView.
Bytes GetBytes(napi_env env, napi_value v, const char* what);

struct U32s {
  uint32_t* data;
  size_t length;
};
U32s GetU32s(napi_env env, napi_value v, const char* what);

// A uniform capacity (number) or one per slot (Uint32Array).
struct Capacity {
  uint32_t uniform;
  const uint32_t* each;  // null when uniform
  size_t length;
  uint32_t at(size_t i) const { return each ? each[i] : uniform; }
};
Capacity GetCapacity(napi_env env, napi_value v);

// stats: Float64Array(STAT_COUNT) or undefined; see enum Stat.
double* GetStats(napi_env env, napi_value v);

int32_t GetInt32(napi_env env, napi_value v, const char* what);
uint32_t GetUint32(napi_env env, napi_value v, const char* what);
inline int32_t GetInt32(Napi::Env env, const Napi::Value& v, const char* what) { return GetInt32(napi_env(env), napi_value(v), what); }
inline uint32_t GetUint32(Napi::Env env, const Napi::Value& v, const char* what) { return GetUint32(napi_env(env), napi_value(v), what); }

// The slot arguments of a batch call, validated once for [start, start + count).
struct Slots {
  Bytes mem;
  U32s offsets;
  U32s lengths;
  Capacity capacity;
  uint32_t start;
  uint32_t count;
};
// Reads mem, offsets, capacity-or-null, lengths, start, count from argv[first..first+5].
// When withCapacity, every slot must fit [offset, offset + capacity) inside mem; otherwise the
// slot [offset, offset + lengths[i]) must.
Slots GetSlots(const Args& a, size_t first, bool withCapacity);
// The same bounds checks for slots the caller already holds (no JS values involved).
void CheckSlots(napi_env env, const Slots& s, bool withCapacity);

// The batch calls without their JS argument parsing, for the native loop (engine.cc), which
// parses the arguments once when a port is added. They throw Napi::Error as the calls do.
struct RecvParams {
  int fd;
  int family;
  uint32_t localPort;
  uint32_t flags;
  double* ovfl;   // null: none
  void* gro;      // GroState (socket.cc), null: none
};
struct SendParams {
  int fd4, fd6;
  uint32_t flags;
  int32_t gsoId;  // -1: none
};
uint32_t ReadBatchCore(napi_env env, int fd, const Slots& s, double* st);
uint32_t WriteBatchCore(napi_env env, int fd, const Slots& s, double* st);
uint32_t RecvBatchCore(napi_env env, const Slots& s, double* st, const RecvParams& p);
uint32_t SendBatchCore(napi_env env, const Slots& s, double* st, const SendParams& p);
// Parses recvBatch / sendBatch arguments (argv as the calls take them) into params.
RecvParams ParseRecvParams(const Args& a);
SendParams ParseSendParams(const Args& a);

// Defines `napi_value Name(napi_env, napi_callback_info)` around a body that may throw Napi::Error;
// the body sees `Args a` and returns a napi_value.
#define WEFT_RAW_CALLBACK(Name)                                            \
  static napi_value Name##Body(const ::weft::Args& a);                     \
  static napi_value Name(napi_env env, napi_callback_info info) {          \
    try {                                                                  \
      return Name##Body(::weft::GetArgs(env, info));                       \
    } catch (const Napi::Error& e) {                                       \
      e.ThrowAsJavaScriptException();                                      \
      return nullptr;                                                      \
    }                                                                      \
  }                                                                        \
  static napi_value Name##Body(const ::weft::Args& a)

void SetRawFunction(Napi::Env env, Napi::Object exports, const char* name, napi_callback cb);
napi_value MakeUint32(napi_env env, uint32_t v);

// Counters a caller keeps per port in a Float64Array; calls add to them.
enum Stat : int {
  STAT_PACKETS = 0,     // packets moved
  STAT_BYTES = 1,       // bytes moved (as seen by the caller: full packets incl. synthesized headers)
  STAT_CALLS = 2,       // batch calls
  STAT_WOULD_BLOCK = 3, // calls that stopped on EAGAIN before count
  STAT_ERRORS = 4,      // packets dropped because of a per-packet error
  STAT_LAST_ERRNO = 5,  // errno of the last per-packet error
  STAT_TRUNCATED = 6,   // received packets larger than their slot (delivered with length 0)
  STAT_SYSCALLS = 7,    // read/write/recvmmsg/sendmmsg/sendto calls made
  STAT_KERNEL_DROPS = 8,  // datagrams the kernel dropped at a full receive queue (SO_RXQ_OVFL)
  STAT_GSO_SENDS = 9,      // underlay: sendmsg calls with UDP_SEGMENT that the kernel accepted
  STAT_GSO_SEGMENTS = 10,  // underlay: packets sent inside those calls
  STAT_GSO_FALLBACKS = 11, // underlay: GSO runs sent packet by packet (GSO refused, no socket for the port)
  STAT_GRO_DATAGRAMS = 12, // underlay: coalesced (UDP_GRO) datagrams received
  STAT_GRO_SEGMENTS = 13,  // underlay: packets split out of them
  STAT_GRO_IN_PLACE = 14,  // underlay: of those, received straight into their slots (no copy)
  STAT_COUNT = 15,
};

// ---- clock -------------------------------------------------------------------------------------
// CLOCK_MONOTONIC in nanoseconds (spin deadlines, the native loop's millisecond clock).
inline int64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// ---- netns -------------------------------------------------------------------------------------
// Switches the calling thread into the network namespace at `path` for its lifetime (no-op for an
// empty path) and back in the destructor. Throws on failure to enter; aborts if it cannot return.
class NetnsScope {
 public:
  NetnsScope(Napi::Env env, const std::string& path);
  ~NetnsScope();
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;

 private:
  int self_ = -1;
};
std::string GetOptionalString(Napi::Env env, const Napi::Value& v, const char* what);

// ---- module parts ------------------------------------------------------------------------------
void InitTun(Napi::Env env, Napi::Object exports);
void InitFdBatch(Napi::Env env, Napi::Object exports);
void InitSocket(Napi::Env env, Napi::Object exports);
void InitPoller(Napi::Env env, Napi::Object exports);
void InitEpoll(Napi::Env env, Napi::Object exports);
void InitEngine(Napi::Env env, Napi::Object exports);
void InitAot(Napi::Env env, Napi::Object exports);
void InitUdpOffload(Napi::Env env, Napi::Object exports);

}  // namespace weft
