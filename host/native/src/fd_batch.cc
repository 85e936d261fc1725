// Batched read()/write() on a non-blocking fd (TUN/TAP): one packet per syscall (the TUN
// interface has no multi-packet call without IFF_VNET_HDR offloads), one N-API call per batch.
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

#include "common.h"

namespace weft {

namespace {
// Takes the excess of a packet larger than its slot, so truncation is detected (read() on a TUN
// or packet socket would silently cut the packet).
constexpr size_t kSpill = 65536 + 64;
thread_local uint8_t tSpill[kSpill];
}  // namespace

// readBatch(fd, mem, offsets, capacity, lengths, start, count, stats?) -> slots filled.
// A packet larger than its slot is consumed and left with length 0 (counted as TRUNCATED).
WEFT_RAW_CALLBACK(ReadBatch) {
  int fd = GetInt32(a.env, a.argv[0], "fd");
  Slots s = GetSlots(a, 1, true);
  double* st = GetStats(a.env, a.argv[7]);
  return MakeUint32(a.env, ReadBatchCore(a.env, fd, s, st));
}

uint32_t ReadBatchCore(napi_env rawEnv, int fd, const Slots& s, double* st) {
  Napi::Env env(rawEnv);
  uint32_t n = 0, delivered = 0, truncated = 0;
  uint64_t bytes = 0, syscalls = 0;
  bool wouldBlock = false;
  int fatal = 0;
  for (uint32_t i = s.start; n < s.count; i++) {
    uint32_t cap = s.capacity.at(i);
    struct iovec iov[2] = {{s.mem.data + s.offsets.data[i], cap}, {tSpill, kSpill}};
    ssize_t r = readv(fd, iov, 2);
    syscalls++;
    if (r < 0) {
      if (errno == EINTR) { i--; continue; }
      if (errno == EAGAIN || errno == EWOULDBLOCK) { wouldBlock = true; break; }
      fatal = errno;
      break;
    }
    n++;
    if (static_cast<size_t>(r) > cap) {
      s.lengths.data[i] = 0;
      truncated++;
      continue;
    }
    s.lengths.data[i] = static_cast<uint32_t>(r);
    bytes += static_cast<uint64_t>(r);
    delivered++;
  }
  if (st) {
    st[STAT_PACKETS] += delivered;
    st[STAT_BYTES] += static_cast<double>(bytes);
    st[STAT_CALLS] += 1;
    st[STAT_SYSCALLS] += static_cast<double>(syscalls);
    st[STAT_TRUNCATED] += truncated;
    if (wouldBlock && n < s.count) st[STAT_WOULD_BLOCK] += 1;
  }
  if (fatal && n == 0) ThrowErrno(env, fatal, "readv");
  return n;
}

// writeBatch(fd, mem, offsets, null, lengths, start, count, stats?) -> packets consumed
// (written, or dropped for a per-packet error such as EINVAL/EIO and counted in stats). Fewer than
// count: the fd would block (wait for writable) or a fatal error follows on the next call.
WEFT_RAW_CALLBACK(WriteBatch) {
  int fd = GetInt32(a.env, a.argv[0], "fd");
  Slots s = GetSlots(a, 1, false);
  double* st = GetStats(a.env, a.argv[7]);
  return MakeUint32(a.env, WriteBatchCore(a.env, fd, s, st));
}

uint32_t WriteBatchCore(napi_env rawEnv, int fd, const Slots& s, double* st) {
  Napi::Env env(rawEnv);
  uint32_t n = 0, sent = 0, dropped = 0;
  uint64_t bytes = 0, syscalls = 0;
  bool wouldBlock = false;
  int fatal = 0, lastErr = 0;
  for (uint32_t i = s.start; n < s.count; i++) {
    uint32_t len = s.lengths.data[i];
    ssize_t r = write(fd, s.mem.data + s.offsets.data[i], len);
    syscalls++;
    if (r < 0) {
      int err = errno;
      if (err == EINTR) { i--; continue; }
      if (err == EAGAIN || err == EWOULDBLOCK) { wouldBlock = true; break; }
      if (IsFdFatal(err)) { fatal = err; break; }
      dropped++;
      lastErr = err;
      n++;
      continue;
    }
    bytes += len;
    sent++;
    n++;
  }
  if (st) {
    st[STAT_PACKETS] += sent;
    st[STAT_BYTES] += static_cast<double>(bytes);
    st[STAT_CALLS] += 1;
    st[STAT_SYSCALLS] += static_cast<double>(syscalls);
    st[STAT_ERRORS] += dropped;
    if (lastErr) st[STAT_LAST_ERRNO] = lastErr;
    if (wouldBlock) st[STAT_WOULD_BLOCK] += 1;
  }
  if (fatal && n == 0) ThrowErrno(env, fatal, "write");
  return n;
}

void InitFdBatch(Napi::Env env, Napi::Object exports) {
  SetRawFunction(env, exports, "readBatch", ReadBatch);
  SetRawFunction(env, exports, "writeBatch", WriteBatch);
}

}  // namespace weft
