// c-relay: the floor of the end-to-end benchmark (`npm run bench:e2e -- --impls c-relay,...`).
//
// The least a user-space overlay router on TUN devices and a UDP socket can do per packet, in C,
// one packet per syscall, no batching, no V8, no Wasm: a pod's TUN read -> one sendto to the peer
// node (an 8-byte VXLAN header, RFC 7348, and a 14-byte inner Ethernet header before the IP
// packet, so the bytes on the underlay are as many as VXLAN's); a datagram from the underlay ->
// the inner IPv4 destination matched against the node's pods -> one write to that pod's TUN.
// Nothing else: no ARP (TUN is L3), no checks beyond what the demultiplexing needs, no counters.
// It is not a router to use; it measures what the kernel side of such a router costs on this
// machine (the syscalls, the TUN and UDP paths, the wake-ups), so that Weft's figures can be read
// against it as well as against the kernel's own VXLAN.
//
// usage: c-relay [--poll] LOCAL_IPV4 PEER_IPV4 PORT VNI POD_NS=POD_IPV4 [POD_NS=POD_IPV4 ...]
// Run inside the node's network namespace. Per pod it enters the pod's namespace (by name, under
// /var/run/netns), creates a TUN named eth0 there and comes back; it then binds LOCAL_IPV4:PORT,
// prints "ready" and relays until killed. The caller configures the pods' addresses and routes.
// --poll: never sleep; poll epoll without blocking and yield the CPU between polls (as Weft's
// datapath.spinUs does while it spins).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

enum { MAX_PODS = 16, VXLAN_LEN = 8, ETH_LEN = 14, ENCAP_LEN = VXLAN_LEN + ETH_LEN, BUF = 65536, UNDERLAY_TOKEN = MAX_PODS };

static void die(const char* what) {
  fprintf(stderr, "c-relay: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void enter_netns(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) die(path);
  close(fd);
}

int main(int argc, char** argv) {
  int poll_mode = 0, a = 1;
  if (a < argc && strcmp(argv[a], "--poll") == 0) { poll_mode = 1; a++; }
  if (argc - a < 5) {
    fprintf(stderr, "usage: c-relay [--poll] LOCAL_IPV4 PEER_IPV4 PORT VNI POD_NS=POD_IPV4 [...]\n");
    return 2;
  }
  struct sockaddr_in local = {.sin_family = AF_INET}, peer = {.sin_family = AF_INET};
  int port = atoi(argv[a + 2]);
  uint32_t vni = (uint32_t)strtoul(argv[a + 3], NULL, 10);
  if (inet_pton(AF_INET, argv[a], &local.sin_addr) != 1 || inet_pton(AF_INET, argv[a + 1], &peer.sin_addr) != 1 ||
      port <= 0 || port > 65535 || vni > 0xffffff) {
    fprintf(stderr, "c-relay: bad address, port or VNI\n");
    return 2;
  }
  local.sin_port = peer.sin_port = htons((uint16_t)port);

  int pods = 0, tun[MAX_PODS];
  uint32_t pod_ip[MAX_PODS];
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) die("/proc/self/ns/net");
  for (int i = a + 4; i < argc; i++) {
    char* eq = strchr(argv[i], '=');
    if (!eq || pods == MAX_PODS) { fprintf(stderr, "c-relay: bad pod %s\n", argv[i]); return 2; }
    *eq = 0;
    if (inet_pton(AF_INET, eq + 1, &pod_ip[pods]) != 1) { fprintf(stderr, "c-relay: bad pod address %s\n", eq + 1); return 2; }
    char path[512];
    snprintf(path, sizeof path, "/var/run/netns/%s", argv[i]);
    enter_netns(path);
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) die("/dev/net/tun");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    strcpy(ifr.ifr_name, "eth0");
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) die("TUNSETIFF");
    if (setns(home, CLONE_NEWNET) != 0) die("setns home");
    tun[pods++] = fd;
  }
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (sock < 0) die("socket");
  int bufsz = 4 << 20;
  setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);
  setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof bufsz);
  if (bind(sock, (struct sockaddr*)&local, sizeof local) != 0) die("bind");

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN};
  for (int i = 0; i < pods; i++) {
    ev.data.u32 = (uint32_t)i;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, tun[i], &ev) != 0) die("epoll_ctl");
  }
  ev.data.u32 = UNDERLAY_TOKEN;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, sock, &ev) != 0) die("epoll_ctl");
  printf("ready\n");
  fflush(stdout);

  static uint8_t buf[BUF];
  // The encapsulation prefix: VXLAN flags (I bit), VNI; inner Ethernet with zero MACs, type IPv4.
  uint8_t prefix[ENCAP_LEN] = {0x08, 0, 0, 0, (uint8_t)(vni >> 16), (uint8_t)(vni >> 8), (uint8_t)vni, 0};
  prefix[VXLAN_LEN + 12] = 0x08;
  struct epoll_event ready[8];
  for (;;) {
    int n = epoll_wait(ep, ready, 8, poll_mode ? 0 : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    if (n == 0) { sched_yield(); continue; }
    for (int e = 0; e < n; e++) {
      uint32_t t = ready[e].data.u32;
      if (t < UNDERLAY_TOKEN) {
        ssize_t k;
        while ((k = read(tun[t], buf + ENCAP_LEN, BUF - ENCAP_LEN)) > 0) {
          memcpy(buf, prefix, ENCAP_LEN);
          buf[VXLAN_LEN + 12] = (buf[ENCAP_LEN] >> 4) == 6 ? 0x86 : 0x08;
          buf[VXLAN_LEN + 13] = (buf[ENCAP_LEN] >> 4) == 6 ? 0xdd : 0x00;
          (void)sendto(sock, buf, (size_t)k + ENCAP_LEN, 0, (struct sockaddr*)&peer, sizeof peer);
        }
      } else {
        ssize_t k;
        while ((k = recv(sock, buf, BUF, 0)) > 0) {
          if (k < ENCAP_LEN + 20 || (buf[ENCAP_LEN] >> 4) != 4) continue;
          uint32_t dst;
          memcpy(&dst, buf + ENCAP_LEN + 16, 4);
          for (int i = 0; i < pods; i++) {
            if (pod_ip[i] == dst) { (void)write(tun[i], buf + ENCAP_LEN, (size_t)k - ENCAP_LEN); break; }
          }
        }
      }
    }
  }
}
