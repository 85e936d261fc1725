// Underlay sockets.
//
// RX: a plain UDP socket per family bound to the tunnel port (so the kernel neither answers
// ICMP port unreachable nor delivers a copy elsewhere), read with recvmmsg into slot + 28 (IPv4) or
// slot + 48 (IPv6); the outer IP + UDP header is then synthesized in front from msg_name (source
// address and port), IP_PKTINFO / IPV6_PKTINFO (destination address), IP_TOS / IPV6_TCLASS /
// IPV6_FLOWINFO and IP_TTL / IPV6_HOPLIMIT. The kernel has already verified the UDP checksum. The
// synthesized IPv4 header has a valid header checksum, ID 0, no flags and a zero UDP checksum
// ("not computed", RFC 768); the IPv6 one gets a correct UDP checksum unless RECV_V6_ZERO_CSUM.
//
// TX: a raw socket per family (IPPROTO_RAW; IPv4 implies IP_HDRINCL, IPv6 sets IPV6_HDRINCL,
// Linux >= 4.5), sendmmsg of complete IP packets built by the data plane, the destination sockaddr
// taken from each packet's own header. The kernel routes each packet, fills the IPv4 header
// checksum and total length, and never fragments (too big: EMSGSIZE, counted).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <fcntl.h>
#include <netinet/udp.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "common.h"

#ifndef IPV6_FLOWINFO
#define IPV6_FLOWINFO 11  // <linux/in6.h>; glibc's <netinet/in.h> lacks it
#endif
#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36
#endif

namespace weft {

namespace {

constexpr uint32_t kMaxVec = 256;
constexpr uint32_t kHdr4 = 20 + 8;
constexpr uint32_t kHdr6 = 40 + 8;
constexpr size_t kCtrl = 192;  // v6 uses 112 bytes of cmsgs (pktinfo, tclass, hoplimit, flowinfo)

enum RecvFlags : uint32_t {
  RECV_V6_ZERO_CSUM = 1,  // leave the synthesized IPv6 UDP checksum 0 instead of computing it
  RECV_ONE_BY_ONE = 2,    // one recvmsg per packet (measurement only)
};
enum SendFlags : uint32_t {
  SEND_ONE_BY_ONE = 2,         // one sendmsg per packet (measurement only)
  SEND_FORCE_GSO_REFUSAL = 4,  // tests: every UDP_SEGMENT send fails with EIO, as on a refusing kernel
};

struct RecvScratch {
  struct mmsghdr msgs[kMaxVec];
  struct iovec iov[kMaxVec];
  struct sockaddr_in6 names[kMaxVec];  // large enough for sockaddr_in too
  alignas(struct cmsghdr) char ctrl[kMaxVec][kCtrl];
};
struct SendScratch {
  struct mmsghdr msgs[kMaxVec];
  struct iovec iov[kMaxVec];
  struct sockaddr_in6 names[kMaxVec];
};
// Per thread: worker_threads may each run a data plane with this addon.
thread_local RecvScratch tRecv;
thread_local SendScratch tSend;

// One's complement sum of bytes in memory order, as native-endian 32-bit words; folding the
// result and storing it natively yields network-order checksum bytes.
uint64_t SumBytes(const uint8_t* p, size_t n, uint64_t acc) {
  while (n >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    acc += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    acc += w;
    p += 2;
    n -= 2;
  }
  if (n) {
    uint8_t last[2] = {p[0], 0};
    uint16_t w;
    std::memcpy(&w, last, 2);
    acc += w;
  }
  return acc;
}

uint16_t Fold(uint64_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(~acc);
}

void Put16(uint8_t* p, uint16_t hostOrder) {
  p[0] = static_cast<uint8_t>(hostOrder >> 8);
  p[1] = static_cast<uint8_t>(hostOrder);
}

uint32_t Get16(const uint8_t* p) { return (uint32_t(p[0]) << 8) | p[1]; }

void SetBuf(int fd, int forceOpt, int opt, int bytes) {
  if (bytes <= 0) return;
  if (setsockopt(fd, SOL_SOCKET, forceOpt, &bytes, sizeof bytes) != 0)
    setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);  // without CAP_NET_ADMIN: capped by rmem_max
}

int GetIntOpt(int fd, int level, int opt) {
  int v = 0;
  socklen_t l = sizeof v;
  getsockopt(fd, level, opt, &v, &l);
  return v;
}

void SetIntOpt(Napi::Env env, int fd, int level, int opt, int v, const char* what) {
  if (setsockopt(fd, level, opt, &v, sizeof v) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "setsockopt", what);
  }
}

int GetFamily(Napi::Env env, const Napi::Value& v) {
  int f = GetInt32(env, v, "family");
  if (f != 4 && f != 6) ThrowRange(env, "family must be 4 or 6");
  return f;
}

}  // namespace

// openUdp(family: 4|6, address: string ("" = any), port: number, rcvbuf: number, sndbuf: number,
//         reusePort: boolean, netns?: string) -> { fd, port, rcvbuf, sndbuf }
// rcvbuf/sndbuf are as reported by the kernel (twice the requested size).
static Napi::Value OpenUdp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int family = GetFamily(env, info[0]);
  std::string address = GetOptionalString(env, info[1], "address");
  uint32_t port = GetUint32(env, info[2], "port");
  int rcvbuf = GetInt32(env, info[3], "rcvbuf");
  int sndbuf = GetInt32(env, info[4], "sndbuf");
  bool reusePort = info[5].ToBoolean();
  std::string netns = GetOptionalString(env, info[6], "netns");
  if (port > 65535) ThrowRange(env, "port out of range");

  struct sockaddr_in6 sa6;
  struct sockaddr_in sa4;
  std::memset(&sa6, 0, sizeof sa6);
  std::memset(&sa4, 0, sizeof sa4);
  if (family == 4) {
    sa4.sin_family = AF_INET;
    sa4.sin_port = htons(static_cast<uint16_t>(port));
    if (!address.empty() && inet_pton(AF_INET, address.c_str(), &sa4.sin_addr) != 1)
      ThrowType(env, "not an IPv4 address: " + address);
  } else {
    sa6.sin6_family = AF_INET6;
    sa6.sin6_port = htons(static_cast<uint16_t>(port));
    if (!address.empty() && inet_pton(AF_INET6, address.c_str(), &sa6.sin6_addr) != 1)
      ThrowType(env, "not an IPv6 address: " + address);
  }

  int fd;
  {
    NetnsScope ns(env, netns);
    fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) ThrowErrno(env, errno, "socket", family == 4 ? "AF_INET SOCK_DGRAM" : "AF_INET6 SOCK_DGRAM");
  }
  SetBuf(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf);
  SetBuf(fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf);
  if (reusePort) SetIntOpt(env, fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
  SetIntOpt(env, fd, SOL_SOCKET, SO_RXQ_OVFL, 1, "SO_RXQ_OVFL");
  if (family == 4) {
    SetIntOpt(env, fd, IPPROTO_IP, IP_PKTINFO, 1, "IP_PKTINFO");
    SetIntOpt(env, fd, IPPROTO_IP, IP_RECVTOS, 1, "IP_RECVTOS");
    SetIntOpt(env, fd, IPPROTO_IP, IP_RECVTTL, 1, "IP_RECVTTL");
  } else {
    SetIntOpt(env, fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
    SetIntOpt(env, fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO");
    SetIntOpt(env, fd, IPPROTO_IPV6, IPV6_RECVTCLASS, 1, "IPV6_RECVTCLASS");
    SetIntOpt(env, fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT");
    SetIntOpt(env, fd, IPPROTO_IPV6, IPV6_FLOWINFO, 1, "IPV6_FLOWINFO");
  }
  int rc = family == 4 ? bind(fd, reinterpret_cast<sockaddr*>(&sa4), sizeof sa4)
                       : bind(fd, reinterpret_cast<sockaddr*>(&sa6), sizeof sa6);
  if (rc != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "bind", (address.empty() ? std::string(family == 4 ? "0.0.0.0" : "::") : address) +
                                     " port " + std::to_string(port));
  }
  struct sockaddr_in6 bound;
  socklen_t bl = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bl);
  uint16_t boundPort = ntohs(family == 4 ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port : bound.sin6_port);

  Napi::Object r = Napi::Object::New(env);
  r.Set("fd", fd);
  r.Set("port", boundPort);
  r.Set("rcvbuf", GetIntOpt(fd, SOL_SOCKET, SO_RCVBUF));
  r.Set("sndbuf", GetIntOpt(fd, SOL_SOCKET, SO_SNDBUF));
  return r;
}

// openRawSender(family: 4|6, sndbuf: number, mark: number (0 = none), netns?: string)
//   -> { fd, sndbuf }
static Napi::Value OpenRawSender(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int family = GetFamily(env, info[0]);
  int sndbuf = GetInt32(env, info[1], "sndbuf");
  uint32_t mark = GetUint32(env, info[2], "mark");
  std::string netns = GetOptionalString(env, info[3], "netns");
  int fd;
  {
    NetnsScope ns(env, netns);
    fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
    if (fd < 0) ThrowErrno(env, errno, "socket", family == 4 ? "AF_INET SOCK_RAW IPPROTO_RAW" : "AF_INET6 SOCK_RAW IPPROTO_RAW");
  }
  if (family == 6) SetIntOpt(env, fd, IPPROTO_IPV6, IPV6_HDRINCL, 1, "IPV6_HDRINCL (needs Linux >= 4.5)");
  SetBuf(fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf);
  if (mark) SetIntOpt(env, fd, SOL_SOCKET, SO_MARK, static_cast<int>(mark), "SO_MARK");
  // Nothing is ever received here (IPPROTO_RAW matches no inbound protocol); keep the queue tiny.
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof one);
  Napi::Object r = Napi::Object::New(env);
  r.Set("fd", fd);
  r.Set("sndbuf", GetIntOpt(fd, SOL_SOCKET, SO_SNDBUF));
  return r;
}

// ---- receive -----------------------------------------------------------------------------------

namespace {

// What the outer header of a received datagram is synthesized from.
struct RxMeta {
  uint8_t src[16];   // IPv4: first 4 bytes
  uint8_t dst[16];
  uint8_t srcPort[2];  // network order
  uint8_t tos;       // IPv4 TOS
  uint8_t ttl;       // IPv4 TTL / IPv6 hop limit
  uint32_t vtcfl;    // IPv6 version, traffic class, flow label (host order)
};

// Fills `r` from msg_name and the control messages; *groSize gets the UDP_GRO segment size (0:
// not coalesced); SO_RXQ_OVFL goes to *ovflSeen / *ovflValue.
void ParseRx(struct msghdr& m, int family, RxMeta& r, uint32_t* groSize, bool* ovflSeen, uint32_t* ovflValue) {
  std::memset(&r, 0, sizeof r);
  r.ttl = 64;
  r.vtcfl = 0x60000000u;
  *groSize = 0;
  if (family == 4) {
    const sockaddr_in* src = reinterpret_cast<const sockaddr_in*>(m.msg_name);
    std::memcpy(r.src, &src->sin_addr, 4);
    std::memcpy(r.srcPort, &src->sin_port, 2);
  } else {
    const sockaddr_in6* src = reinterpret_cast<const sockaddr_in6*>(m.msg_name);
    std::memcpy(r.src, &src->sin6_addr, 16);
    std::memcpy(r.srcPort, &src->sin6_port, 2);
  }
  bool haveFlow = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    int v;
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
      std::memcpy(ovflValue, CMSG_DATA(c), sizeof *ovflValue);
      *ovflSeen = true;
    } else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
      std::memcpy(&v, CMSG_DATA(c), sizeof v);
      *groSize = v > 0 ? static_cast<uint32_t>(v) : 0;
    } else if (family == 4 && c->cmsg_level == IPPROTO_IP) {
      if (c->cmsg_type == IP_PKTINFO) {
        struct in_pktinfo pi;
        std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
        std::memcpy(r.dst, &pi.ipi_addr, 4);
      } else if (c->cmsg_type == IP_TOS) {
        r.tos = *CMSG_DATA(c);
      } else if (c->cmsg_type == IP_TTL) {
        std::memcpy(&v, CMSG_DATA(c), sizeof v);
        r.ttl = static_cast<uint8_t>(v);
      }
    } else if (family == 6 && c->cmsg_level == IPPROTO_IPV6) {
      switch (c->cmsg_type) {
        case IPV6_PKTINFO: {
          struct in6_pktinfo pi;
          std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
          std::memcpy(r.dst, &pi.ipi6_addr, 16);
          break;
        }
        case IPV6_TCLASS:
          std::memcpy(&v, CMSG_DATA(c), sizeof v);
          if (!haveFlow) r.vtcfl = 0x60000000u | (static_cast<uint32_t>(v & 0xff) << 20);
          break;
        case IPV6_FLOWINFO: {
          uint32_t fi;
          std::memcpy(&fi, CMSG_DATA(c), sizeof fi);
          r.vtcfl = 0x60000000u | (ntohl(fi) & 0x0fffffffu);
          haveFlow = true;
          break;
        }
        case IPV6_HOPLIMIT:
          std::memcpy(&v, CMSG_DATA(c), sizeof v);
          r.ttl = static_cast<uint8_t>(v);
          break;
      }
    }
  }
}

// Writes the outer IP + UDP header at `p` for `payload` bytes already at p + kHdr4/kHdr6.
void Synthesize(uint8_t* p, int family, const RxMeta& r, uint32_t payload, uint32_t localPort, bool v6Checksum) {
  const uint32_t hdr = family == 4 ? kHdr4 : kHdr6;
  const uint32_t total = hdr + payload;
  if (family == 4) {
    p[0] = 0x45;
    p[1] = r.tos;
    Put16(p + 2, static_cast<uint16_t>(total));
    p[4] = p[5] = p[6] = p[7] = 0;
    p[8] = r.ttl;
    p[9] = IPPROTO_UDP;
    p[10] = p[11] = 0;
    std::memcpy(p + 12, r.src, 4);
    std::memcpy(p + 16, r.dst, 4);
    uint16_t c = Fold(SumBytes(p, 20, 0));
    std::memcpy(p + 10, &c, 2);
    uint8_t* u = p + 20;
    std::memcpy(u, r.srcPort, 2);
    Put16(u + 2, static_cast<uint16_t>(localPort));
    Put16(u + 4, static_cast<uint16_t>(8 + payload));
    u[6] = u[7] = 0;
    return;
  }
  uint32_t be = htonl(r.vtcfl);
  std::memcpy(p, &be, 4);
  Put16(p + 4, static_cast<uint16_t>(8 + payload));
  p[6] = IPPROTO_UDP;
  p[7] = r.ttl;
  std::memcpy(p + 8, r.src, 16);
  std::memcpy(p + 24, r.dst, 16);
  uint8_t* u = p + 40;
  std::memcpy(u, r.srcPort, 2);
  Put16(u + 2, static_cast<uint16_t>(localPort));
  Put16(u + 4, static_cast<uint16_t>(8 + payload));
  u[6] = u[7] = 0;
  if (v6Checksum) {
    // Pseudo-header: src, dst (32 bytes in place), upper-layer length, next header.
    uint8_t ph[8] = {0, 0, 0, 0, 0, 0, 0, IPPROTO_UDP};
    uint32_t ulen = htonl(8 + payload);
    std::memcpy(ph, &ulen, 4);
    uint64_t acc = SumBytes(p + 8, 32, 0);
    acc = SumBytes(ph, 8, acc);
    acc = SumBytes(u, 8 + payload, acc);
    uint16_t c = Fold(acc);
    if (c == 0) c = 0xffff;
    std::memcpy(u + 6, &c, 2);
  }
}

// UDP GRO receive state: a caller-owned Uint8Array of kGroStateBytes (one per socket). Two ways in:
// - staged: recvmmsg fills up to kGroMsgs staging buffers of 64 KiB; their datagrams are split into
//   slots by gso_size (one memcpy per segment);
// - in place (`predict` = the segment size of the last coalesced datagram, 0 = none; back to
//   staged after kGroPlainMax plain datagrams in a row, so small-packet floods keep recvmmsg): one recvmsg
//   whose iovecs are the next slots' payload areas, `predict` bytes each, then a spill iovec into
//   staging buffer 0, so the kernel copies each segment straight into its own slot. When the
//   datagram's gso_size is `predict` (or it is one datagram of at most `predict` bytes) the slots
//   are done but for their synthesized headers; the bytes past the slots wait in buffer 0 as a
//   staged message. Otherwise (MSS changed, a longer plain datagram) the pieces are gathered into
//   staging buffer 1 and split as a staged message: correct, just not copy-free.
// What does not fit the caller's slots stays here for the next call (`next`/`segOff`).
constexpr uint32_t kGroMsgs = 64;
constexpr uint32_t kGroPlainMax = 8;
constexpr uint32_t kGroBufBytes = 65536;  // a UDP GRO aggregate never exceeds 64 KiB
struct GroMsg {
  uint32_t len;        // datagram bytes
  uint32_t gso;        // segment size, 0 = one datagram
  uint32_t truncated;  // larger than its staging buffer (cannot happen for UDP; delivered as a runt)
  uint32_t pad;
  RxMeta meta;
};
struct GroState {
  uint32_t count;    // staged messages (words 0 and 1 are read by host/io/linux/underlay.ts groPending)
  uint32_t next;     // first message not fully delivered
  uint32_t segOff;   // bytes of msgs[next] already delivered
  uint32_t magic;
  uint32_t predict;  // gso_size of the last coalesced datagram: receive the next one in place (0: staged)
  uint32_t plain;    // plain datagrams received in place since the last coalesced one
  uint32_t pad[2];
  GroMsg msgs[kGroMsgs];
};
constexpr uint32_t kGroMagic = 0x67726f31;  // "gro1"
constexpr size_t kGroDataOff = (sizeof(GroState) + 4095) & ~size_t(4095);
constexpr size_t kGroStateBytes = kGroDataOff + size_t(kGroMsgs) * kGroBufBytes;

GroState* GetGroState(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) == napi_ok && (t == napi_undefined || t == napi_null)) return nullptr;
  Bytes b = GetBytes(env, v, "groState");
  if (b.length < kGroStateBytes || (reinterpret_cast<uintptr_t>(b.data) & 7) != 0)
    ThrowType(Napi::Env(env), "groState must be an 8-byte aligned Uint8Array of GRO_STATE_BYTES (" +
                                  std::to_string(kGroStateBytes) + ") bytes");
  GroState* g = reinterpret_cast<GroState*>(b.data);
  if (g->magic != kGroMagic) {  // fresh (zeroed) buffer
    g->count = g->next = g->segOff = g->predict = g->plain = 0;
    g->magic = kGroMagic;
  }
  if (g->count > kGroMsgs || g->next > g->count) ThrowRange(Napi::Env(env), "groState is corrupt");
  if (g->predict > kGroBufBytes) g->predict = 0;  // a corrupt prediction only costs the in-place path
  return g;
}

}  // namespace

// recvBatch(fd, mem, offsets, capacity, lengths, start, count, stats?, family, localPort, flags,
//           ovfl?: Float64Array(1), groState?: Uint8Array) -> slots filled.
// ovfl keeps this socket's last SO_RXQ_OVFL value; the growth since is added to KERNEL_DROPS (the
// kernel reports drops with the next datagram queued after them). Each filled slot holds a full
// outer IP packet (synthesized IP + UDP header, then the datagram). A datagram larger than its
// slot is consumed and left with length 0 (counted as TRUNCATED), so it still occupies its slot:
// the data plane drops runts.
// groState (the socket has UDP_GRO on): datagrams are received into it and copied into the slots,
// a coalesced one split into its segments (each its own slot, in order); after a coalesced datagram
// the next ones are received straight into the slots (in place, see GroState) while their segment
// size stays the same, counted in GRO_IN_PLACE. Segments that do not fit
// this call's slots are delivered first by the next call on the same socket and state; the call
// then returns `count`, so a caller that reads until a call returns fewer than asked (or checks
// groPending) loses nothing.
WEFT_RAW_CALLBACK(RecvBatch) {
  Slots s = GetSlots(a, 1, true);
  double* st = GetStats(a.env, a.argv[7]);
  RecvParams p = ParseRecvParams(a);
  return MakeUint32(a.env, RecvBatchCore(a.env, s, st, p));
}

RecvParams ParseRecvParams(const Args& a) {
  Napi::Env env(a.env);
  RecvParams p;
  p.fd = GetInt32(a.env, a.argv[0], "fd");
  p.family = GetFamily(env, Napi::Value(env, a.argv[8]));
  p.localPort = GetUint32(a.env, a.argv[9], "localPort");
  p.flags = GetUint32(a.env, a.argv[10], "flags");
  p.ovfl = nullptr;
  {
    napi_typedarray_type t;
    size_t len = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(a.env, a.argv[11], &t, &len, &data, nullptr, nullptr) == napi_ok &&
        t == napi_float64_array && len >= 1)
      p.ovfl = static_cast<double*>(data);
  }
  p.gro = GetGroState(a.env, a.argv[12]);
  return p;
}

uint32_t RecvBatchCore(napi_env rawEnv, const Slots& s, double* st, const RecvParams& p) {
  Napi::Env env(rawEnv);
  const int fd = p.fd, family = p.family;
  const uint32_t localPort = p.localPort, flags = p.flags;
  double* ovfl = p.ovfl;
  GroState* gro = static_cast<GroState*>(p.gro);
  if (gro && (gro->magic != kGroMagic || gro->count > kGroMsgs || gro->next > gro->count)) ThrowRange(env, "groState is corrupt");
  bool sawOvfl = false;
  uint32_t lastOvfl = 0;
  const uint32_t hdr = family == 4 ? kHdr4 : kHdr6;
  const bool v6Checksum = !(flags & RECV_V6_ZERO_CSUM);
  for (uint32_t i = s.start; i < s.start + s.count; i++)
    if (s.capacity.at(i) <= hdr) ThrowRange(env, "slot capacity must exceed the synthesized header");

  RecvScratch& x = tRecv;
  uint32_t n = 0, delivered = 0, truncated = 0, groDatagrams = 0, groSegments = 0, groInPlace = 0;
  uint64_t bytes = 0, syscalls = 0;
  bool wouldBlock = false;
  int fatal = 0;
  uint8_t* groData = gro ? reinterpret_cast<uint8_t*>(gro) + kGroDataOff : nullptr;

  // GRO: hands staged segments to slots until the slots or the staged messages run out.
  auto deliverStaged = [&]() {
    while (n < s.count && gro->next < gro->count) {
      GroMsg& g = gro->msgs[gro->next];
      uint32_t i = s.start + n;
      n++;
      if (g.truncated) {
        s.lengths.data[i] = 0;
        truncated++;
        gro->next++;
        gro->segOff = 0;
        continue;
      }
      uint32_t seg = g.gso ? g.gso : g.len;
      uint32_t left = g.len - gro->segOff;
      uint32_t segLen = seg < left ? seg : left;
      if (hdr + segLen > s.capacity.at(i)) {
        s.lengths.data[i] = 0;
        truncated++;
      } else {
        uint8_t* p = s.mem.data + s.offsets.data[i];
        std::memcpy(p + hdr, groData + size_t(gro->next) * kGroBufBytes + gro->segOff, segLen);
        Synthesize(p, family, g.meta, segLen, localPort, v6Checksum);
        s.lengths.data[i] = hdr + segLen;
        bytes += hdr + segLen;
        delivered++;
      }
      if (g.gso) groSegments++;
      gro->segOff += segLen;
      if (gro->segOff >= g.len) {  // also ends a zero-length datagram after its one slot
        gro->next++;
        gro->segOff = 0;
      }
    }
    if (gro->next == gro->count) gro->next = gro->count = 0;
  };

  // GRO in place (see GroState): returns false when the next slots cannot take `predict` bytes
  // each (the caller then uses the staged path); otherwise one recvmsg has been made and handled.
  auto recvInPlace = [&]() -> bool {
    const uint32_t G = gro->predict;
    uint32_t m = 0;
    uint32_t maxSlots = (65535 + G - 1) / G;
    if (maxSlots > kGroMsgs) maxSlots = kGroMsgs;
    while (m < maxSlots && n + m < s.count && s.capacity.at(s.start + n + m) >= hdr + G) {
      x.iov[m].iov_base = s.mem.data + s.offsets.data[s.start + n + m] + hdr;
      x.iov[m].iov_len = G;
      m++;
    }
    if (m == 0) return false;
    // The spill takes whatever the slots cannot: with it the iovecs hold any UDP datagram.
    x.iov[m].iov_base = groData;
    x.iov[m].iov_len = kGroBufBytes;
    struct msghdr& mh = x.msgs[0].msg_hdr;
    mh.msg_name = &x.names[0];
    mh.msg_namelen = sizeof x.names[0];
    mh.msg_iov = x.iov;
    mh.msg_iovlen = m + 1;
    mh.msg_control = x.ctrl[0];
    mh.msg_controllen = kCtrl;
    mh.msg_flags = 0;
    ssize_t b;
    do b = recvmsg(fd, &mh, MSG_DONTWAIT); while (b < 0 && errno == EINTR);
    syscalls++;
    if (b < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) wouldBlock = true;
      else fatal = errno;
      return true;
    }
    GroMsg& g = gro->msgs[0];
    ParseRx(mh, family, g.meta, &g.gso, &sawOvfl, &lastOvfl);
    const uint32_t len = static_cast<uint32_t>(b);
    const uint32_t gso = g.gso >= len ? 0 : g.gso;  // one segment: an ordinary datagram
    if (g.gso) {
      gro->predict = g.gso;
      gro->plain = 0;
    } else if (++gro->plain >= kGroPlainMax) {
      gro->predict = gro->plain = 0;
    }
    if (gso) groDatagrams++;
    const uint32_t inSlots = len < m * G ? len : m * G;
    if ((gso == G || (gso == 0 && len <= G)) && !(mh.msg_flags & MSG_TRUNC)) {
      uint32_t segs = len == 0 ? 1 : (inSlots + G - 1) / G;
      for (uint32_t j = 0; j < segs; j++) {
        uint32_t segLen = len - j * G < G ? len - j * G : G;
        uint32_t i = s.start + n + j;
        Synthesize(s.mem.data + s.offsets.data[i], family, g.meta, segLen, localPort, v6Checksum);
        s.lengths.data[i] = hdr + segLen;
        bytes += hdr + segLen;
      }
      delivered += segs;
      if (gso) { groSegments += segs; groInPlace += segs; }
      n += segs;
      if (len > inSlots) {  // the rest is in buffer 0, whole segments from offset 0
        g.len = len - inSlots;
        g.gso = G;
        g.truncated = 0;
        gro->count = 1;
        gro->next = gro->segOff = 0;
        deliverStaged();  // into slots left after a short one (capacity), else kept for the next call
      }
      return true;
    }
    // Segments not where they belong: gather the datagram into buffer 1 and split it from there.
    uint8_t* whole = groData + kGroBufBytes;
    if (len > inSlots) std::memmove(whole + inSlots, groData, len - inSlots);
    for (uint32_t j = 0; j * G < inSlots; j++) {
      uint32_t piece = inSlots - j * G < G ? inSlots - j * G : G;
      std::memcpy(whole + j * G, s.mem.data + s.offsets.data[s.start + n + j] + hdr, piece);
    }
    GroMsg& w = gro->msgs[1];
    w.meta = g.meta;
    w.len = len;
    w.gso = gso;
    w.truncated = (mh.msg_flags & MSG_TRUNC) ? 1 : 0;
    gro->count = 2;
    gro->next = 1;
    gro->segOff = 0;
    deliverStaged();
    return true;
  };

  if (gro) deliverStaged();
  while (n < s.count) {
    if (gro && gro->predict && !(flags & RECV_ONE_BY_ONE)) {
      if (recvInPlace()) {
        if (wouldBlock || fatal) break;
        continue;
      }
    }
    uint32_t k = s.count - n;
    if (k > kMaxVec) k = kMaxVec;
    if (gro && k > kGroMsgs) k = kGroMsgs;
    if (flags & RECV_ONE_BY_ONE) k = 1;
    for (uint32_t j = 0; j < k; j++) {
      uint32_t i = s.start + n + j;
      if (gro) {
        x.iov[j].iov_base = groData + size_t(j) * kGroBufBytes;
        x.iov[j].iov_len = kGroBufBytes;
      } else {
        x.iov[j].iov_base = s.mem.data + s.offsets.data[i] + hdr;
        x.iov[j].iov_len = s.capacity.at(i) - hdr;
      }
      struct msghdr& m = x.msgs[j].msg_hdr;
      m.msg_name = &x.names[j];
      m.msg_namelen = sizeof x.names[j];
      m.msg_iov = &x.iov[j];
      m.msg_iovlen = 1;
      m.msg_control = x.ctrl[j];
      m.msg_controllen = kCtrl;
      m.msg_flags = 0;
    }
    int r;
    if (k == 1) {
      ssize_t b = recvmsg(fd, &x.msgs[0].msg_hdr, MSG_DONTWAIT);
      if (b >= 0) x.msgs[0].msg_len = static_cast<unsigned>(b);
      r = b >= 0 ? 1 : -1;
    } else {
      r = recvmmsg(fd, x.msgs, k, MSG_DONTWAIT, nullptr);
    }
    syscalls++;
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) { wouldBlock = true; break; }
      fatal = errno;
      break;
    }
    if (gro) {
      for (int j = 0; j < r; j++) {
        GroMsg& g = gro->msgs[j];
        ParseRx(x.msgs[j].msg_hdr, family, g.meta, &g.gso, &sawOvfl, &lastOvfl);
        if (g.gso) gro->predict = g.gso, gro->plain = 0;  // after a coalesced one: in place
        g.len = x.msgs[j].msg_len;
        g.truncated = (x.msgs[j].msg_hdr.msg_flags & MSG_TRUNC) ? 1 : 0;
        if (g.gso >= g.len) g.gso = 0;  // one segment: an ordinary datagram
        if (g.gso) groDatagrams++;
      }
      gro->count = static_cast<uint32_t>(r);
      gro->next = gro->segOff = 0;
      deliverStaged();
    } else {
      for (int j = 0; j < r; j++) {
        uint32_t i = s.start + n + j;
        struct msghdr& m = x.msgs[j].msg_hdr;
        uint32_t payload = x.msgs[j].msg_len;
        RxMeta meta;
        uint32_t groSize;
        ParseRx(m, family, meta, &groSize, &sawOvfl, &lastOvfl);
        if (m.msg_flags & MSG_TRUNC) {
          s.lengths.data[i] = 0;
          truncated++;
          continue;
        }
        Synthesize(s.mem.data + s.offsets.data[i], family, meta, payload, localPort, v6Checksum);
        s.lengths.data[i] = hdr + payload;
        bytes += hdr + payload;
        delivered++;
      }
      n += static_cast<uint32_t>(r);
    }
    if (static_cast<uint32_t>(r) < k && !(flags & RECV_ONE_BY_ONE)) { wouldBlock = true; break; }
  }
  if (st) {
    st[STAT_PACKETS] += delivered;
    st[STAT_BYTES] += static_cast<double>(bytes);
    st[STAT_CALLS] += 1;
    st[STAT_SYSCALLS] += static_cast<double>(syscalls);
    st[STAT_TRUNCATED] += truncated;
    st[STAT_GRO_DATAGRAMS] += groDatagrams;
    st[STAT_GRO_SEGMENTS] += groSegments;
    st[STAT_GRO_IN_PLACE] += groInPlace;
    if (wouldBlock) st[STAT_WOULD_BLOCK] += 1;
  }
  if (ovfl && sawOvfl) {
    uint32_t prev = static_cast<uint32_t>(ovfl[0]);
    uint32_t delta = lastOvfl - prev;  // modulo 2^32, as the kernel's counter wraps
    if (st) st[STAT_KERNEL_DROPS] += delta;
    ovfl[0] = lastOvfl;
  }
  if (fatal && n == 0) ThrowErrno(env, fatal, "recvmmsg");
  return n;
}

// setUdpGro(fd, on) -> 0 or the errno of setsockopt(SOL_UDP, UDP_GRO) (ENOPROTOOPT: kernel < 5.0).
static Napi::Value SetUdpGro(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = GetInt32(env, info[0], "fd");
  int on = info[1].ToBoolean() ? 1 : 0;
  if (setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) != 0) return Napi::Number::New(env, errno);
  return Napi::Number::New(env, 0);
}

// ---- send: UDP GSO -----------------------------------------------------------------------------
//
// A GSO run is a sequence of consecutive packets of one family with the same outer addresses,
// UDP ports, TOS/TTL (IPv4: IHL 5, DF clear, not a fragment) or traffic class, flow label and hop
// limit (IPv6: UDP right after the fixed header), and equal UDP payload sizes except a shorter
// last one; at most kGsoMaxSegments packets and kGsoMaxPayload bytes of UDP payload. A run of two
// or more goes out with ONE sendmsg on a UDP socket bound to (source address, source port) with a
// UDP_SEGMENT cmsg: the kernel (or the NIC) cuts it back into exactly those datagrams. The
// iovecs point at each packet's UDP payload in the slot: nothing is copied. The socket carries
// what the raw path writes: DF clear (IP_PMTUDISC_DONT), TOS/TTL and traffic class/hop limit
// per call as cmsgs, the IPv6 flow label through sin6_flowinfo (IPV6_FLOWINFO_SEND) with
// automatic labels off. The UDP checksum is computed by the kernel (GSO requires it).

namespace {

constexpr uint32_t kGsoMaxSegments = 64;   // UDP_MAX_SEGMENTS on Linux < 6.3 (128 after)
constexpr uint32_t kGsoMaxPayload = 65535 - 8 - 40;  // fits an IPv4 total length and an IPv6 payload length
#ifndef IPV6_FLOWINFO_SEND
#define IPV6_FLOWINFO_SEND 33
#endif
#ifndef IPV6_AUTOFLOWLABEL
#define IPV6_AUTOFLOWLABEL 70
#endif

struct GsoSocket {
  int family;
  uint8_t addr[16];
  uint16_t port;    // host order
  int fd;           // -1: bind failed (the port's runs go the raw way until this entry is evicted)
  uint64_t lastUse;
};

struct GsoSender {
  int nsFd = -1;
  int sndbuf = 0;
  uint32_t mark = 0;
  uint32_t capacity = 64;
  bool active = false;
  int probeErrno = 0;
  int disabledErrno = 0;
  uint64_t clock = 0;
  uint64_t socketsOpened = 0;
  uint64_t bindFailures = 0;
  GsoSocket sockets[256];
  uint32_t used = 0;
  ~GsoSender() {
    for (uint32_t k = 0; k < used; k++) if (sockets[k].fd >= 0) close(sockets[k].fd);
    if (nsFd >= 0) close(nsFd);
  }
};
thread_local std::vector<std::unique_ptr<GsoSender>> tGso;

GsoSender* GetGso(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) == napi_ok && (t == napi_undefined || t == napi_null)) return nullptr;
  int32_t id = GetInt32(env, v, "gso");
  if (id < 0) return nullptr;
  if (static_cast<size_t>(id) >= tGso.size() || !tGso[id]) ThrowRange(Napi::Env(env), "gso: no such sender (closed, or from another thread)");
  return tGso[id].get();
}

// A UDP socket of `family` in the sender's namespace; -errno on failure.
int UdpSocketIn(int nsFd, int family) {
  int self = -1;
  if (nsFd >= 0) {
    self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) return -errno;
    if (setns(nsFd, CLONE_NEWNET) != 0) {
      int err = errno;
      close(self);
      return -err;
    }
  }
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int err = errno;
  if (self >= 0) {
    if (setns(self, CLONE_NEWNET) != 0) {
      std::perror("weft_io: cannot return to the original network namespace");
      std::abort();
    }
    close(self);
  }
  return fd >= 0 ? fd : -err;
}

// Opens and binds the send socket for (family, addr, port); -1 when that fails.
int OpenGsoSocket(GsoSender& g, int family, const uint8_t* addr, uint16_t port) {
  int fd = UdpSocketIn(g.nsFd, family);
  if (fd < 0) return -1;
  int one = 1, zero = 0;
  bool ok = setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0;
  SetBuf(fd, SO_SNDBUFFORCE, SO_SNDBUF, g.sndbuf);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof one);  // never read: keep the queue minimal
  if (g.mark) {
    int m = static_cast<int>(g.mark);
    ok = ok && setsockopt(fd, SOL_SOCKET, SO_MARK, &m, sizeof m) == 0;
  }
  int rc;
  if (family == 4) {
    int dont = IP_PMTUDISC_DONT;
    ok = ok && setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &dont, sizeof dont) == 0;
    sockaddr_in sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    std::memcpy(&sa.sin_addr, addr, 4);
    rc = ok ? bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) : -1;
  } else {
    ok = ok && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0;
    ok = ok && setsockopt(fd, IPPROTO_IPV6, IPV6_FLOWINFO_SEND, &one, sizeof one) == 0;
    ok = ok && setsockopt(fd, IPPROTO_IPV6, IPV6_AUTOFLOWLABEL, &zero, sizeof zero) == 0;
    sockaddr_in6 sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    std::memcpy(&sa.sin6_addr, addr, 16);
    rc = ok ? bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) : -1;
  }
  if (rc != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// The socket for (family, addr, port) from the LRU, opened on first use; -1: use the raw path.
int GsoSocketFor(GsoSender& g, int family, const uint8_t* addr, uint16_t port) {
  const size_t alen = family == 4 ? 4 : 16;
  g.clock++;
  for (uint32_t k = 0; k < g.used; k++) {
    GsoSocket& e = g.sockets[k];
    if (e.port == port && e.family == family && std::memcmp(e.addr, addr, alen) == 0) {
      e.lastUse = g.clock;
      return e.fd;
    }
  }
  uint32_t slot = g.used;
  if (g.used < g.capacity) {
    g.used++;
  } else {
    slot = 0;
    for (uint32_t k = 1; k < g.used; k++) if (g.sockets[k].lastUse < g.sockets[slot].lastUse) slot = k;
    if (g.sockets[slot].fd >= 0) close(g.sockets[slot].fd);
  }
  GsoSocket& e = g.sockets[slot];
  e.family = family;
  std::memset(e.addr, 0, sizeof e.addr);
  std::memcpy(e.addr, addr, alen);
  e.port = port;
  e.lastUse = g.clock;
  e.fd = OpenGsoSocket(g, family, addr, port);
  if (e.fd >= 0) g.socketsOpened++;
  else g.bindFailures++;
  return e.fd;
}

// IP header length when the packet can be part of a GSO run (see above), else 0.
uint32_t GsoHeaderLen(const uint8_t* p, uint32_t len, int family) {
  if (family == 4) {
    if (len <= 28 || p[0] != 0x45 || p[9] != IPPROTO_UDP) return 0;
    if ((p[6] & 0x40) || ((p[6] & 0x3f) | p[7])) return 0;  // DF, MF, fragment offset
    if (Get16(p + 2) != len || Get16(p + 24) != len - 20) return 0;
    return 20;
  }
  if (len <= 48 || p[6] != IPPROTO_UDP) return 0;
  if (Get16(p + 4) != len - 40 || Get16(p + 44) != len - 40) return 0;
  return 40;
}

bool GsoSameFlow(const uint8_t* a, const uint8_t* b, int family) {
  if (family == 4)
    return a[1] == b[1] && a[8] == b[8] && std::memcmp(a + 12, b + 12, 8) == 0 && std::memcmp(a + 20, b + 20, 4) == 0;
  return std::memcmp(a, b, 4) == 0 && a[7] == b[7] && std::memcmp(a + 8, b + 8, 36) == 0;
}

bool IsGsoRefusal(int err) { return err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP; }

}  // namespace

// gsoOpen(netns: string ("" = the caller's), sndbuf, mark, capacity: 1..256) -> { id, probeErrno }
// A UDP GSO sender for one underlay: an LRU of up to `capacity` send sockets. probeErrno is the
// errno of setsockopt(UDP_SEGMENT) on a test socket (0: supported; the sender is then active).
static Napi::Value GsoOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string netns = GetOptionalString(env, info[0], "netns");
  int sndbuf = GetInt32(env, info[1], "sndbuf");
  uint32_t mark = GetUint32(env, info[2], "mark");
  uint32_t capacity = GetUint32(env, info[3], "capacity");
  if (capacity < 1 || capacity > 256) ThrowRange(env, "capacity must be in 1..256");
  auto g = std::make_unique<GsoSender>();
  g->sndbuf = sndbuf;
  g->mark = mark;
  g->capacity = capacity;
  if (!netns.empty()) {
    g->nsFd = open(netns.c_str(), O_RDONLY | O_CLOEXEC);
    if (g->nsFd < 0) ThrowErrno(env, errno, "open", netns);
  }
  int fd = UdpSocketIn(g->nsFd, 4);
  if (fd == -EAFNOSUPPORT) fd = UdpSocketIn(g->nsFd, 6);
  if (fd < 0) {
    g->probeErrno = -fd;
  } else {
    int size = 1400;
    if (setsockopt(fd, SOL_UDP, UDP_SEGMENT, &size, sizeof size) != 0) g->probeErrno = errno;
    close(fd);
  }
  g->active = g->probeErrno == 0;
  int probe = g->probeErrno;
  size_t id = 0;
  while (id < tGso.size() && tGso[id]) id++;
  if (id == tGso.size()) tGso.emplace_back();
  tGso[id] = std::move(g);
  Napi::Object r = Napi::Object::New(env);
  r.Set("id", static_cast<double>(id));
  r.Set("probeErrno", probe);
  return r;
}

// gsoClose(id): closes its sockets; the id may be reused. Idempotent.
static Napi::Value GsoClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t id = GetInt32(env, info[0], "id");
  if (id >= 0 && static_cast<size_t>(id) < tGso.size()) tGso[id].reset();
  return env.Undefined();
}

// gsoInfo(id) -> { active, probeErrno, disabledErrno, sockets, socketsOpened, bindFailures }
static Napi::Value GsoInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GsoSender* g = GetGso(napi_env(env), napi_value(info[0]));
  if (!g) ThrowRange(env, "gso: no such sender");
  uint32_t open = 0;
  for (uint32_t k = 0; k < g->used; k++) if (g->sockets[k].fd >= 0) open++;
  Napi::Object r = Napi::Object::New(env);
  r.Set("active", g->active);
  r.Set("probeErrno", g->probeErrno);
  r.Set("disabledErrno", g->disabledErrno);
  r.Set("sockets", open);
  r.Set("socketsOpened", static_cast<double>(g->socketsOpened));
  r.Set("bindFailures", static_cast<double>(g->bindFailures));
  return r;
}

// sendBatch(fd4, fd6, mem, offsets, null, lengths, start, count, stats?, flags, gso?: id)
//   -> packets consumed (sent, or dropped for a per-packet error and counted).
// A packet whose family has no socket (fd < 0) or that is too short to hold its IP header is
// dropped (EAFNOSUPPORT / EINVAL). With an active GSO sender, runs (above) go out with UDP_SEGMENT;
// a run the kernel refuses (EIO, EINVAL, ENOPROTOOPT, EOPNOTSUPP) is sent packet by packet on the
// raw socket instead, and when those sends succeed the sender is disabled for good (its
// disabledErrno says why); any other error of a GSO send also resends the run the raw way, so
// per-packet errors are counted exactly as without GSO.
WEFT_RAW_CALLBACK(SendBatch) {
  Slots s = GetSlots(a, 2, false);
  double* st = GetStats(a.env, a.argv[8]);
  SendParams p = ParseSendParams(a);
  return MakeUint32(a.env, SendBatchCore(a.env, s, st, p));
}

SendParams ParseSendParams(const Args& a) {
  SendParams p;
  p.fd4 = GetInt32(a.env, a.argv[0], "fd4");
  p.fd6 = GetInt32(a.env, a.argv[1], "fd6");
  p.flags = GetUint32(a.env, a.argv[9], "flags");
  GsoSender* g = GetGso(a.env, a.argv[10]);
  p.gsoId = g ? GetInt32(a.env, a.argv[10], "gso") : -1;
  return p;
}

uint32_t SendBatchCore(napi_env rawEnv, const Slots& s, double* st, const SendParams& p) {
  Napi::Env env(rawEnv);
  const int fd4 = p.fd4, fd6 = p.fd6;
  const uint32_t flags = p.flags;
  // By id on every call: the sender may have been closed since the caller parsed its arguments.
  GsoSender* gso = p.gsoId >= 0 && static_cast<size_t>(p.gsoId) < tGso.size() ? tGso[p.gsoId].get() : nullptr;
  SendScratch& x = tSend;

  const uint32_t end = s.start + s.count;
  uint32_t i = s.start, sentPkts = 0, dropped = 0, gsoSends = 0, gsoSegments = 0, gsoFallbacks = 0;
  uint64_t bytes = 0, syscalls = 0;
  bool wouldBlock = false;
  int fatal = 0, lastErr = 0;

  auto familyOf = [&](uint32_t idx) -> int {
    const uint8_t* p = s.mem.data + s.offsets.data[idx];
    uint32_t len = s.lengths.data[idx];
    if (len >= 20 && (p[0] >> 4) == 4) return fd4 >= 0 ? 4 : -EAFNOSUPPORT;
    if (len >= 40 && (p[0] >> 4) == 6) return fd6 >= 0 ? 6 : -EAFNOSUPPORT;
    return -EINVAL;
  };

  // Length of the GSO run starting at idx (family fam), 0 or 1 when there is none.
  auto gsoRunAt = [&](uint32_t idx, int fam) -> uint32_t {
    if (!gso || !gso->active) return 0;
    const uint8_t* p0 = s.mem.data + s.offsets.data[idx];
    uint32_t hl = GsoHeaderLen(p0, s.lengths.data[idx], fam);
    if (!hl) return 0;
    const uint32_t seg = s.lengths.data[idx] - hl - 8;
    uint32_t total = seg, k = 1;
    for (uint32_t j = idx + 1; j < end && k < kGsoMaxSegments; j++) {
      const uint8_t* p = s.mem.data + s.offsets.data[j];
      uint32_t len = s.lengths.data[j];
      if (len < hl + 8 || familyOf(j) != fam || GsoHeaderLen(p, len, fam) != hl || !GsoSameFlow(p0, p, fam)) break;
      uint32_t pay = len - hl - 8;
      if (pay > seg || total + pay > kGsoMaxPayload) break;
      total += pay;
      k++;
      if (pay < seg) break;  // a shorter segment ends the run
    }
    return k;
  };

  // Raw sendmmsg of packets [from, from + k) of family fam; returns how many were consumed.
  auto sendRaw = [&](uint32_t from, uint32_t k, int fam) -> uint32_t {
    for (uint32_t q = 0; q < k; q++) {
      uint32_t j = from + q;
      uint8_t* p = s.mem.data + s.offsets.data[j];
      x.iov[q].iov_base = p;
      x.iov[q].iov_len = s.lengths.data[j];
      std::memset(&x.names[q], 0, sizeof x.names[q]);
      struct msghdr& m = x.msgs[q].msg_hdr;
      if (fam == 4) {
        sockaddr_in* d = reinterpret_cast<sockaddr_in*>(&x.names[q]);
        d->sin_family = AF_INET;
        std::memcpy(&d->sin_addr, p + 16, 4);
        m.msg_namelen = sizeof(sockaddr_in);
      } else {
        x.names[q].sin6_family = AF_INET6;
        std::memcpy(&x.names[q].sin6_addr, p + 24, 16);
        m.msg_namelen = sizeof(sockaddr_in6);
      }
      m.msg_name = &x.names[q];
      m.msg_iov = &x.iov[q];
      m.msg_iovlen = 1;
      m.msg_control = nullptr;
      m.msg_controllen = 0;
      m.msg_flags = 0;
    }
    int fd = fam == 4 ? fd4 : fd6;
    uint32_t done = 0;
    while (done < k) {
      int r;
      if (flags & SEND_ONE_BY_ONE) r = sendmsg(fd, &x.msgs[done].msg_hdr, MSG_DONTWAIT) >= 0 ? 1 : -1;
      else r = sendmmsg(fd, x.msgs + done, k - done, MSG_DONTWAIT);
      syscalls++;
      if (r > 0) {
        for (int j = 0; j < r; j++) bytes += x.iov[done + j].iov_len;
        sentPkts += static_cast<uint32_t>(r);
        done += static_cast<uint32_t>(r);
        continue;
      }
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) { wouldBlock = true; break; }
      if (IsFdFatal(err)) { fatal = err; break; }
      dropped++;  // this packet: no route, too big, filtered, ...
      lastErr = err;
      done++;
    }
    return done;
  };

  // One UDP_SEGMENT sendmsg for the run [from, from + k): 0 sent, else the errno (EAGAIN too);
  // -1: no socket for this source (bind failed).
  alignas(struct cmsghdr) char ctrl[CMSG_SPACE(sizeof(uint16_t)) + 2 * CMSG_SPACE(sizeof(int))];
  struct iovec gsoIov[kGsoMaxSegments];
  auto sendGso = [&](uint32_t from, uint32_t k, int fam) -> int {
    uint8_t* p0 = s.mem.data + s.offsets.data[from];
    const uint32_t hl = fam == 4 ? 20 : 40;
    const uint8_t* src = p0 + (fam == 4 ? 12 : 8);
    int sfd = GsoSocketFor(*gso, fam, src, static_cast<uint16_t>((p0[hl] << 8) | p0[hl + 1]));
    if (sfd < 0) return -1;
    for (uint32_t q = 0; q < k; q++) {
      uint8_t* p = s.mem.data + s.offsets.data[from + q];
      gsoIov[q].iov_base = p + hl + 8;
      gsoIov[q].iov_len = s.lengths.data[from + q] - hl - 8;
    }
    struct sockaddr_in6 dst;
    std::memset(&dst, 0, sizeof dst);
    struct msghdr m;
    std::memset(&m, 0, sizeof m);
    std::memset(ctrl, 0, sizeof ctrl);
    m.msg_name = &dst;
    m.msg_iov = gsoIov;
    m.msg_iovlen = k;
    m.msg_control = ctrl;
    m.msg_controllen = sizeof ctrl;
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t segSize = static_cast<uint16_t>(gsoIov[0].iov_len);
    std::memcpy(CMSG_DATA(c), &segSize, sizeof segSize);
    int tos, ttl;
    if (fam == 4) {
      sockaddr_in* d = reinterpret_cast<sockaddr_in*>(&dst);
      d->sin_family = AF_INET;
      std::memcpy(&d->sin_addr, p0 + 16, 4);
      std::memcpy(&d->sin_port, p0 + 22, 2);
      m.msg_namelen = sizeof(sockaddr_in);
      tos = p0[1];
      ttl = p0[8];
    } else {
      dst.sin6_family = AF_INET6;
      std::memcpy(&dst.sin6_addr, p0 + 24, 16);
      std::memcpy(&dst.sin6_port, p0 + 42, 2);
      uint32_t word;
      std::memcpy(&word, p0, 4);
      dst.sin6_flowinfo = htonl(ntohl(word) & 0x000fffffu);  // the flow label; the class goes as a cmsg
      m.msg_namelen = sizeof(sockaddr_in6);
      tos = static_cast<int>((ntohl(word) >> 20) & 0xff);
      ttl = p0[7];
    }
    c = CMSG_NXTHDR(&m, c);
    c->cmsg_level = fam == 4 ? IPPROTO_IP : IPPROTO_IPV6;
    c->cmsg_type = fam == 4 ? IP_TOS : IPV6_TCLASS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &tos, sizeof tos);
    c = CMSG_NXTHDR(&m, c);
    c->cmsg_level = fam == 4 ? IPPROTO_IP : IPPROTO_IPV6;
    c->cmsg_type = fam == 4 ? IP_TTL : IPV6_HOPLIMIT;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &ttl, sizeof ttl);
    for (;;) {
      syscalls++;
      if (flags & SEND_FORCE_GSO_REFUSAL) return EIO;
      if (sendmsg(sfd, &m, MSG_DONTWAIT) >= 0) return 0;
      if (errno != EINTR) return errno;
    }
  };

  while (i < end) {
    int fam = familyOf(i);
    if (fam < 0) {
      dropped++;
      lastErr = -fam;
      i++;
      continue;
    }
    uint32_t run = gsoRunAt(i, fam);
    if (run >= 2) {
      int err = sendGso(i, run, fam);
      if (err == 0) {
        for (uint32_t q = 0; q < run; q++) bytes += s.lengths.data[i + q];
        sentPkts += run;
        gsoSends++;
        gsoSegments += run;
        i += run;
        continue;
      }
      if (err == EAGAIN || err == EWOULDBLOCK) { wouldBlock = true; break; }
      gsoFallbacks++;
      uint32_t droppedBefore = dropped;
      uint32_t done = sendRaw(i, run, fam);
      i += done;
      if (done < run) break;
      // The kernel refused GSO but takes the same packets one by one: GSO is what fails here.
      if (IsGsoRefusal(err) && dropped == droppedBefore) {
        gso->active = false;
        gso->disabledErrno = err;
      }
      continue;
    }
    uint32_t k = 1;
    while (i + k < end && k < kMaxVec && familyOf(i + k) == fam && gsoRunAt(i + k, fam) < 2) k++;
    uint32_t done = sendRaw(i, k, fam);
    i += done;
    if (done < k) break;
  }
  uint32_t consumed = i - s.start;
  if (st) {
    st[STAT_PACKETS] += sentPkts;
    st[STAT_BYTES] += static_cast<double>(bytes);
    st[STAT_CALLS] += 1;
    st[STAT_SYSCALLS] += static_cast<double>(syscalls);
    st[STAT_ERRORS] += dropped;
    st[STAT_GSO_SENDS] += gsoSends;
    st[STAT_GSO_SEGMENTS] += gsoSegments;
    st[STAT_GSO_FALLBACKS] += gsoFallbacks;
    if (lastErr) st[STAT_LAST_ERRNO] = lastErr;
    if (wouldBlock) st[STAT_WOULD_BLOCK] += 1;
  }
  if (fatal && consumed == 0) ThrowErrno(env, fatal, "sendmmsg");
  return consumed;
}

void InitSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("openUdp", Napi::Function::New(env, OpenUdp, "openUdp"));
  exports.Set("openRawSender", Napi::Function::New(env, OpenRawSender, "openRawSender"));
  SetRawFunction(env, exports, "recvBatch", RecvBatch);
  SetRawFunction(env, exports, "sendBatch", SendBatch);
  exports.Set("setUdpGro", Napi::Function::New(env, SetUdpGro, "setUdpGro"));
  exports.Set("gsoOpen", Napi::Function::New(env, GsoOpen, "gsoOpen"));
  exports.Set("gsoClose", Napi::Function::New(env, GsoClose, "gsoClose"));
  exports.Set("gsoInfo", Napi::Function::New(env, GsoInfo, "gsoInfo"));
  exports.Set("GRO_STATE_BYTES", static_cast<double>(kGroStateBytes));
  Napi::Object rf = Napi::Object::New(env);
  rf.Set("V6_ZERO_CSUM", static_cast<uint32_t>(RECV_V6_ZERO_CSUM));
  rf.Set("ONE_BY_ONE", static_cast<uint32_t>(RECV_ONE_BY_ONE));
  exports.Set("RECV", rf);
  Napi::Object sf = Napi::Object::New(env);
  sf.Set("ONE_BY_ONE", static_cast<uint32_t>(SEND_ONE_BY_ONE));
  sf.Set("FORCE_GSO_REFUSAL", static_cast<uint32_t>(SEND_FORCE_GSO_REFUSAL));
  exports.Set("SEND", sf);
}

}  // namespace weft
