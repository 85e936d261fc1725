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
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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
  SEND_ONE_BY_ONE = 2,  // one sendmsg per packet (measurement only)
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

// recvBatch(fd, mem, offsets, capacity, lengths, start, count, stats?, family, localPort, flags,
//           ovfl?: Float64Array(1)) -> slots filled.
// ovfl keeps this socket's last SO_RXQ_OVFL value; the growth since is added to KERNEL_DROPS (the
// kernel reports drops with the next datagram queued after them). Each filled slot holds a full outer IP packet (synthesized IP + UDP header,
//   then the datagram). A datagram larger than its slot is consumed and left with length 0
//   (counted as TRUNCATED), so it still occupies its slot: the data plane drops runts.
WEFT_RAW_CALLBACK(RecvBatch) {
  Napi::Env env(a.env);
  int fd = GetInt32(a.env, a.argv[0], "fd");
  Slots s = GetSlots(a, 1, true);
  double* st = GetStats(a.env, a.argv[7]);
  int family = GetFamily(env, Napi::Value(env, a.argv[8]));
  uint32_t localPort = GetUint32(a.env, a.argv[9], "localPort");
  uint32_t flags = GetUint32(a.env, a.argv[10], "flags");
  double* ovfl = nullptr;
  {
    napi_typedarray_type t;
    size_t len = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(a.env, a.argv[11], &t, &len, &data, nullptr, nullptr) == napi_ok &&
        t == napi_float64_array && len >= 1)
      ovfl = static_cast<double*>(data);
  }
  bool sawOvfl = false;
  uint32_t lastOvfl = 0;
  const uint32_t hdr = family == 4 ? kHdr4 : kHdr6;
  for (uint32_t i = s.start; i < s.start + s.count; i++)
    if (s.capacity.at(i) <= hdr) ThrowRange(env, "slot capacity must exceed the synthesized header");

  RecvScratch& x = tRecv;
  uint32_t n = 0, delivered = 0, truncated = 0;
  uint64_t bytes = 0, syscalls = 0;
  bool wouldBlock = false;
  int fatal = 0;
  while (n < s.count) {
    uint32_t k = s.count - n;
    if (k > kMaxVec) k = kMaxVec;
    if (flags & RECV_ONE_BY_ONE) k = 1;
    for (uint32_t j = 0; j < k; j++) {
      uint32_t i = s.start + n + j;
      x.iov[j].iov_base = s.mem.data + s.offsets.data[i] + hdr;
      x.iov[j].iov_len = s.capacity.at(i) - hdr;
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
    for (int j = 0; j < r; j++) {
      uint32_t i = s.start + n + j;
      struct msghdr& m = x.msgs[j].msg_hdr;
      uint32_t payload = x.msgs[j].msg_len;
      for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
          std::memcpy(&lastOvfl, CMSG_DATA(c), sizeof lastOvfl);
          sawOvfl = true;
        }
      }
      if (m.msg_flags & MSG_TRUNC) {
        s.lengths.data[i] = 0;
        truncated++;
        continue;
      }
      uint8_t* p = s.mem.data + s.offsets.data[i];
      uint32_t total = hdr + payload;
      if (family == 4) {
        const sockaddr_in* src = reinterpret_cast<const sockaddr_in*>(m.msg_name);
        uint8_t tos = 0, ttl = 64;
        struct in_addr dst = {0};
        for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
          if (c->cmsg_level != IPPROTO_IP) continue;
          if (c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
            dst = pi.ipi_addr;
          } else if (c->cmsg_type == IP_TOS) {
            tos = *CMSG_DATA(c);
          } else if (c->cmsg_type == IP_TTL) {
            int v;
            std::memcpy(&v, CMSG_DATA(c), sizeof v);
            ttl = static_cast<uint8_t>(v);
          }
        }
        p[0] = 0x45;
        p[1] = tos;
        Put16(p + 2, static_cast<uint16_t>(total));
        p[4] = p[5] = p[6] = p[7] = 0;
        p[8] = ttl;
        p[9] = IPPROTO_UDP;
        p[10] = p[11] = 0;
        std::memcpy(p + 12, &src->sin_addr, 4);
        std::memcpy(p + 16, &dst, 4);
        uint16_t c = Fold(SumBytes(p, 20, 0));
        std::memcpy(p + 10, &c, 2);
        uint8_t* u = p + 20;
        std::memcpy(u, &src->sin_port, 2);
        Put16(u + 2, static_cast<uint16_t>(localPort));
        Put16(u + 4, static_cast<uint16_t>(8 + payload));
        u[6] = u[7] = 0;
      } else {
        const sockaddr_in6* src = reinterpret_cast<const sockaddr_in6*>(m.msg_name);
        uint32_t vtcfl = 0x60000000u;
        uint8_t hop = 64;
        bool haveFlow = false;
        struct in6_addr dst;
        std::memset(&dst, 0, sizeof dst);
        for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
          if (c->cmsg_level != IPPROTO_IPV6) continue;
          int v;
          switch (c->cmsg_type) {
            case IPV6_PKTINFO: {
              struct in6_pktinfo pi;
              std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
              dst = pi.ipi6_addr;
              break;
            }
            case IPV6_TCLASS:
              std::memcpy(&v, CMSG_DATA(c), sizeof v);
              if (!haveFlow) vtcfl = 0x60000000u | (static_cast<uint32_t>(v & 0xff) << 20);
              break;
            case IPV6_FLOWINFO: {
              uint32_t fi;
              std::memcpy(&fi, CMSG_DATA(c), sizeof fi);
              vtcfl = 0x60000000u | (ntohl(fi) & 0x0fffffffu);
              haveFlow = true;
              break;
            }
            case IPV6_HOPLIMIT:
              std::memcpy(&v, CMSG_DATA(c), sizeof v);
              hop = static_cast<uint8_t>(v);
              break;
          }
        }
        uint32_t be = htonl(vtcfl);
        std::memcpy(p, &be, 4);
        Put16(p + 4, static_cast<uint16_t>(8 + payload));
        p[6] = IPPROTO_UDP;
        p[7] = hop;
        std::memcpy(p + 8, &src->sin6_addr, 16);
        std::memcpy(p + 24, &dst, 16);
        uint8_t* u = p + 40;
        std::memcpy(u, &src->sin6_port, 2);
        Put16(u + 2, static_cast<uint16_t>(localPort));
        Put16(u + 4, static_cast<uint16_t>(8 + payload));
        u[6] = u[7] = 0;
        if (!(flags & RECV_V6_ZERO_CSUM)) {
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
      s.lengths.data[i] = total;
      bytes += total;
      delivered++;
    }
    n += static_cast<uint32_t>(r);
    if (static_cast<uint32_t>(r) < k && !(flags & RECV_ONE_BY_ONE)) { wouldBlock = true; break; }
  }
  if (st) {
    st[STAT_PACKETS] += delivered;
    st[STAT_BYTES] += static_cast<double>(bytes);
    st[STAT_CALLS] += 1;
    st[STAT_SYSCALLS] += static_cast<double>(syscalls);
    st[STAT_TRUNCATED] += truncated;
    if (wouldBlock) st[STAT_WOULD_BLOCK] += 1;
  }
  if (ovfl && sawOvfl) {
    uint32_t prev = static_cast<uint32_t>(ovfl[0]);
    uint32_t delta = lastOvfl - prev;  // modulo 2^32, as the kernel's counter wraps
    if (st) st[STAT_KERNEL_DROPS] += delta;
    ovfl[0] = lastOvfl;
  }
  if (fatal && n == 0) ThrowErrno(env, fatal, "recvmmsg");
  return MakeUint32(a.env, n);
}

// sendBatch(fd4, fd6, mem, offsets, null, lengths, start, count, stats?, flags) -> packets consumed
// (sent, or dropped for a per-packet error and counted). A packet whose family has no socket
// (fd < 0) or that is too short to hold its IP header is dropped (EAFNOSUPPORT / EINVAL).
WEFT_RAW_CALLBACK(SendBatch) {
  Napi::Env env(a.env);
  int fd4 = GetInt32(a.env, a.argv[0], "fd4");
  int fd6 = GetInt32(a.env, a.argv[1], "fd6");
  Slots s = GetSlots(a, 2, false);
  double* st = GetStats(a.env, a.argv[8]);
  uint32_t flags = GetUint32(a.env, a.argv[9], "flags");
  SendScratch& x = tSend;

  const uint32_t end = s.start + s.count;
  uint32_t i = s.start, sentPkts = 0, dropped = 0;
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

  while (i < end) {
    int fam = familyOf(i);
    if (fam < 0) {
      dropped++;
      lastErr = -fam;
      i++;
      continue;
    }
    uint32_t k = 0;
    for (uint32_t j = i; j < end && k < kMaxVec && familyOf(j) == fam; j++, k++) {
      uint8_t* p = s.mem.data + s.offsets.data[j];
      x.iov[k].iov_base = p;
      x.iov[k].iov_len = s.lengths.data[j];
      std::memset(&x.names[k], 0, sizeof x.names[k]);
      struct msghdr& m = x.msgs[k].msg_hdr;
      if (fam == 4) {
        sockaddr_in* d = reinterpret_cast<sockaddr_in*>(&x.names[k]);
        d->sin_family = AF_INET;
        std::memcpy(&d->sin_addr, p + 16, 4);
        m.msg_namelen = sizeof(sockaddr_in);
      } else {
        x.names[k].sin6_family = AF_INET6;
        std::memcpy(&x.names[k].sin6_addr, p + 24, 16);
        m.msg_namelen = sizeof(sockaddr_in6);
      }
      m.msg_name = &x.names[k];
      m.msg_iov = &x.iov[k];
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
    if (lastErr) st[STAT_LAST_ERRNO] = lastErr;
    if (wouldBlock) st[STAT_WOULD_BLOCK] += 1;
  }
  if (fatal && consumed == 0) ThrowErrno(env, fatal, "sendmmsg");
  return MakeUint32(a.env, consumed);
}

void InitSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("openUdp", Napi::Function::New(env, OpenUdp, "openUdp"));
  exports.Set("openRawSender", Napi::Function::New(env, OpenRawSender, "openRawSender"));
  SetRawFunction(env, exports, "recvBatch", RecvBatch);
  SetRawFunction(env, exports, "sendBatch", SendBatch);
  Napi::Object rf = Napi::Object::New(env);
  rf.Set("V6_ZERO_CSUM", static_cast<uint32_t>(RECV_V6_ZERO_CSUM));
  rf.Set("ONE_BY_ONE", static_cast<uint32_t>(RECV_ONE_BY_ONE));
  exports.Set("RECV", rf);
  Napi::Object sf = Napi::Object::New(env);
  sf.Set("ONE_BY_ONE", static_cast<uint32_t>(SEND_ONE_BY_ONE));
  exports.Set("SEND", sf);
}

}  // namespace weft
