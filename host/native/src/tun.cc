// TUN/TAP devices: /dev/net/tun, TUNSETIFF with IFF_NO_PI, non-blocking, not persistent.
#include <fcntl.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common.h"

namespace weft {

// openTun(name: string ("" = kernel picks), tap: boolean, vnetHdr: boolean, multiQueue: boolean,
//         netns?: string) -> { fd: number, name: string }
// The device is created in `netns` (a path such as /var/run/netns/X or /proc/PID/ns/net) when
// given; the fd keeps working after the device is moved to another namespace.
static Napi::Value OpenTun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = GetOptionalString(env, info[0], "name");
  bool tap = info[1].ToBoolean();
  bool vnetHdr = info[2].ToBoolean();
  bool multiQueue = info[3].ToBoolean();
  std::string netns = GetOptionalString(env, info[4], "netns");
  if (name.size() >= IFNAMSIZ) ThrowErrno(env, ENAMETOOLONG, "open", "interface name '" + name + "'");

  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = static_cast<short>((tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI | (vnetHdr ? IFF_VNET_HDR : 0) |
                                     (multiQueue ? IFF_MULTI_QUEUE : 0));
  int fd;
  {
    NetnsScope ns(env, netns);
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) ThrowErrno(env, errno, "open", "/dev/net/tun");
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
      int err = errno;
      close(fd);
      ThrowErrno(env, err, "ioctl", "TUNSETIFF '" + name + "'");
    }
  }
  if (ioctl(fd, TUNSETPERSIST, 0) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "ioctl", "TUNSETPERSIST");
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("fd", fd);
  ifr.ifr_name[IFNAMSIZ - 1] = 0;
  r.Set("name", Napi::String::New(env, ifr.ifr_name));
  return r;
}

// tunSetOffload(fd, flags: TUN_F_* bits). For IFF_VNET_HDR devices (offloads issue).
static Napi::Value TunSetOffload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = GetInt32(env, info[0], "fd");
  unsigned int flags = GetUint32(env, info[1], "flags");
  if (ioctl(fd, TUNSETOFFLOAD, flags) != 0) ThrowErrno(env, errno, "ioctl", "TUNSETOFFLOAD");
  return env.Undefined();
}

// tunAttached(fd) -> boolean: false when the fd's device is gone (deleted, or its namespace
// destroyed: TUNGETIFF answers EBADFD for a detached queue); throws on a bad fd.
static Napi::Value TunAttached(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = GetInt32(env, info[0], "fd");
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  if (ioctl(fd, TUNGETIFF, &ifr) == 0) return Napi::Boolean::New(env, true);
  if (errno == EBADFD) return Napi::Boolean::New(env, false);
  ThrowErrno(env, errno, "ioctl", "TUNGETIFF");
}

// tunSetVnetHdrSize(fd, bytes).
static Napi::Value TunSetVnetHdrSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = GetInt32(env, info[0], "fd");
  int size = GetInt32(env, info[1], "size");
  if (ioctl(fd, TUNSETVNETHDRSZ, &size) != 0) ThrowErrno(env, errno, "ioctl", "TUNSETVNETHDRSZ");
  return env.Undefined();
}

// closeFd(fd). Throws on EBADF so double closes are loud.
static Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = GetInt32(env, info[0], "fd");
  if (close(fd) != 0 && errno != EINTR) ThrowErrno(env, errno, "close");
  return env.Undefined();
}

// openPacket(ifname, rcvbuf, netns?) -> { fd, ifindex }: AF_PACKET SOCK_RAW bound to one interface,
// all protocols, own outgoing frames ignored (PACKET_IGNORE_OUTGOING, Linux >= 4.20). read()/write()
// through readBatch/writeBatch move whole frames (link header included; none on a TUN). Used by
// tests as the "other side" of a TAP/TUN and by benchmarks.
static Napi::Value OpenPacket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname = GetOptionalString(env, info[0], "ifname");
  int rcvbuf = GetInt32(env, info[1], "rcvbuf");
  std::string netns = GetOptionalString(env, info[2], "netns");
  int fd;
  unsigned ifindex;
  {
    NetnsScope ns(env, netns);
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0) ThrowErrno(env, errno, "socket", "AF_PACKET");
    ifindex = if_nametoindex(ifname.c_str());
    if (ifindex == 0) {
      int err = errno;
      close(fd);
      ThrowErrno(env, err, "if_nametoindex", ifname);
    }
  }
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  int one = 1;
#ifdef PACKET_IGNORE_OUTGOING
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
#else
  setsockopt(fd, SOL_PACKET, 23, &one, sizeof one);
#endif
  struct sockaddr_ll sll;
  std::memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = static_cast<int>(ifindex);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "bind", "AF_PACKET " + ifname);
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("fd", fd);
  r.Set("ifindex", ifindex);
  return r;
}

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

void InitTun(Napi::Env env, Napi::Object exports) {
  exports.Set("openTun", Napi::Function::New(env, OpenTun, "openTun"));
  exports.Set("tunSetOffload", Napi::Function::New(env, TunSetOffload, "tunSetOffload"));
  exports.Set("tunSetVnetHdrSize", Napi::Function::New(env, TunSetVnetHdrSize, "tunSetVnetHdrSize"));
  exports.Set("tunAttached", Napi::Function::New(env, TunAttached, "tunAttached"));
  exports.Set("openPacket", Napi::Function::New(env, OpenPacket, "openPacket"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  Napi::Object f = Napi::Object::New(env);
  f.Set("CSUM", TUN_F_CSUM);
  f.Set("TSO4", TUN_F_TSO4);
  f.Set("TSO6", TUN_F_TSO6);
  f.Set("TSO_ECN", TUN_F_TSO_ECN);
  // USO (Linux 6.2): Debian 12's 6.1 uapi headers lack them; the values are ABI
  // (include/uapi/linux/if_tun.h). An older kernel answers TUNSETOFFLOAD with EINVAL.
  f.Set("USO4", TUN_F_USO4);
  f.Set("USO6", TUN_F_USO6);
  exports.Set("TUN_F", f);
}

}  // namespace weft
