#!/usr/bin/env bash
# Captures the Linux kernel's own VXLAN encapsulation, set up the way flannel's vxlan backend sets
# it up, as pcaps under test/vectors/kernel/ (or $OUT). Needs root, iproute2, tcpdump, ethtool,
# iputils-ping and Debian's /usr/bin/python3 (for the UDP/TCP senders).
#
# Topology (all in fresh namespaces with unique names; the root namespace is never touched):
#
#   pod A (netns)                node A (netns)                        node B (netns)              pod B (netns)
#   eth0 10.244.1.11  <-veth->  pa 10.244.1.1/32                       pb 10.244.2.1/32  <-veth->  eth0 10.244.2.11
#        fd00:244:1::11             fd00:244:1::1/128                     fd00:244:2::1/128             fd00:244:2::11
#                               vx4 10.244.1.0/32 (VNI 1, port 8472)    vx4 10.244.2.0/32
#                               vx6 fd00:244:1::/128                    vx6 fd00:244:2::/128
#                               ul 10.99.0.1/24 fd00:99::1/64 <-veth-> ul 10.99.0.2/24 fd00:99::2/64
#
# Per remote node, exactly flannel's three entries (pkg/backend/vxlan/vxlan_network.go):
#   neighbour <remote podCIDR .0> lladdr <remote VTEP MAC> permanent; FDB <remote VTEP MAC> dst
#   <remote underlay IP>; route <remote podCIDR> via <remote .0> dev vx onlink.
#
# Checksum and segmentation offloads are switched off on every device so that the captured
# checksums are the final ones (with offloads on, packets cross veths with CHECKSUM_PARTIAL and
# tcpdump would record the pseudo-header sum instead).
#
# Variants (one pcap pair each: <variant>-underlay.pcap on node A's `ul`, <variant>-pod.pcap on
# node A's pod-facing veth `pa`):
#   vxlan4-default      IPv4 underlay, no checksum option given (the kernel default, as flannel)
#   vxlan4-udpcsum      IPv4 underlay, `udpcsum`
#   vxlan4-noudpcsum    IPv4 underlay, `noudpcsum`
#   vxlan6-default      IPv6 underlay, inner IPv6, no checksum option (as flannel's flannel-v6.1)
#   vxlan6-zerocsum     IPv6 underlay, `udp6zerocsumtx udp6zerocsumrx`
# Plus, during vxlan4-default, format samples for the pcap reader: any-sll2.pcap (tcpdump -i any),
# any-sll.pcap (-y LINUX_SLL) and underlay-nano.pcap (--time-stamp-precision=nano).
#
# Traffic per variant, from pod A to pod B: one ping; 64 bytes of UDP to a closed port (pod B
# answers ICMP port unreachable); a 2000-byte UDP datagram (fragmented by pod A, since its MTU is
# 1500, and node A refragments the 1500-byte first fragment for the 1450-byte vx MTU); a TCP handshake + 5 bytes + close with a listener; a TCP SYN to a
# closed port (RST); and a DF ping bigger than the vx MTU (node A answers "fragmentation needed" /
# "packet too big" on the pod veth).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/kernel}
PY=/usr/bin/python3
mkdir -p "$OUT"

for tool in ip bridge tcpdump ethtool ping "$PY"; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }

ID=$(( $$ % 100000 ))
NA=wv${ID}na; NB=wv${ID}nb; PA=wv${ID}pa; PB=wv${ID}pb
ALL_NS=("$NA" "$NB" "$PA" "$PB")
TCPDUMP_PIDS=()

cleanup() {
  set +e
  for p in "${TCPDUMP_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for ns in "${ALL_NS[@]}"; do ip netns pids "$ns" 2>/dev/null | while read -r p; do kill "$p" 2>/dev/null; done; done
  sleep 0.2
  for ns in "${ALL_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
}
trap cleanup EXIT INT TERM

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# Fixed MACs make the vectors deterministic.
VTEP4_A=02:aa:00:00:01:04; VTEP4_B=02:bb:00:00:02:04
VTEP6_A=02:aa:00:00:01:06; VTEP6_B=02:bb:00:00:02:06
UL_A=02:00:99:00:00:01; UL_B=02:00:99:00:00:02
POD_A=02:00:00:01:00:11; POD_A_GW=02:00:00:01:00:01
POD_B=02:00:00:02:00:11; POD_B_GW=02:00:00:02:00:01

noofl() { nsx "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || nsx "$1" ethtool -K "$2" tx off >/dev/null; }

setup_base() {
  for ns in "${ALL_NS[@]}"; do
    ip netns add "$ns"
    nsx "$ns" ip link set lo up
    nsx "$ns" sysctl -qw net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0
    nsx "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  done
  for ns in "$NA" "$NB"; do
    nsx "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  done
  # underlay
  ip link add ul netns "$NA" address $UL_A type veth peer ul netns "$NB" address $UL_B
  nsx "$NA" ip addr add 10.99.0.1/24 dev ul; nsx "$NA" ip addr add fd00:99::1/64 dev ul nodad
  nsx "$NB" ip addr add 10.99.0.2/24 dev ul; nsx "$NB" ip addr add fd00:99::2/64 dev ul nodad
  for ns in "$NA" "$NB"; do noofl "$ns" ul; nsx "$ns" ip link set ul up; done
  # pods: a routed veth each (node side gets the gateway address as /32 and a /32 route to the pod)
  local n pod node podmac gwmac
  for n in 1 2; do
    if [ $n = 1 ]; then pod=$PA; node=$NA; podmac=$POD_A; gwmac=$POD_A_GW; else pod=$PB; node=$NB; podmac=$POD_B; gwmac=$POD_B_GW; fi
    local hostif=p$([ $n = 1 ] && echo a || echo b)
    ip link add eth0 netns "$pod" address $podmac type veth peer "$hostif" netns "$node" address $gwmac
    nsx "$pod" ip addr add 10.244.$n.11/24 dev eth0; nsx "$pod" ip addr add fd00:244:$n::11/64 dev eth0 nodad
    nsx "$node" ip addr add 10.244.$n.1/32 dev "$hostif"; nsx "$node" ip addr add fd00:244:$n::1/128 dev "$hostif" nodad
    noofl "$pod" eth0; noofl "$node" "$hostif"
    nsx "$pod" ip link set eth0 up; nsx "$node" ip link set "$hostif" up
    nsx "$node" ip route add 10.244.$n.11/32 dev "$hostif"
    nsx "$node" ip -6 route add fd00:244:$n::11/128 dev "$hostif"
    nsx "$pod" ip route add default via 10.244.$n.1
    nsx "$pod" ip -6 route add default via fd00:244:$n::1
    # the node answers ARP for 10.244.n.1 on the routed veth: it owns it as /32 on that device
  done
}

# add_vx4 OPTS... : flannel's flannel.1, IPv4 underlay
add_vx4() {
  nsx "$NA" ip link add vx4 address $VTEP4_A type vxlan id 1 dstport 8472 local 10.99.0.1 dev ul nolearning "$@"
  nsx "$NB" ip link add vx4 address $VTEP4_B type vxlan id 1 dstport 8472 local 10.99.0.2 dev ul nolearning "$@"
  local ns n peer_ul peer_vtep
  for n in 1 2; do
    if [ $n = 1 ]; then ns=$NA; peer=2; peer_ul=10.99.0.2; peer_vtep=$VTEP4_B; else ns=$NB; peer=1; peer_ul=10.99.0.1; peer_vtep=$VTEP4_A; fi
    nsx "$ns" ip link set vx4 mtu 1450
    nsx "$ns" ip addr add 10.244.$n.0/32 dev vx4
    noofl "$ns" vx4
    nsx "$ns" ip link set vx4 up
    nsx "$ns" ip neigh add 10.244.$peer.0 lladdr "$peer_vtep" dev vx4 nud permanent
    nsx "$ns" bridge fdb append "$peer_vtep" dev vx4 dst "$peer_ul" self permanent
    nsx "$ns" ip route add 10.244.$peer.0/24 via 10.244.$peer.0 dev vx4 onlink
  done
}

# add_vx6 OPTS... : flannel's flannel-v6.1, IPv6 underlay
add_vx6() {
  nsx "$NA" ip link add vx6 address $VTEP6_A type vxlan id 1 dstport 8472 local fd00:99::1 dev ul nolearning "$@"
  nsx "$NB" ip link add vx6 address $VTEP6_B type vxlan id 1 dstport 8472 local fd00:99::2 dev ul nolearning "$@"
  local ns n peer peer_ul peer_vtep
  for n in 1 2; do
    if [ $n = 1 ]; then ns=$NA; peer=2; peer_ul=fd00:99::2; peer_vtep=$VTEP6_B; else ns=$NB; peer=1; peer_ul=fd00:99::1; peer_vtep=$VTEP6_A; fi
    nsx "$ns" ip link set vx6 mtu 1430
    nsx "$ns" ip addr add fd00:244:$n::/128 dev vx6 nodad
    noofl "$ns" vx6
    nsx "$ns" ip link set vx6 up
    nsx "$ns" ip -6 neigh add fd00:244:$peer:: lladdr "$peer_vtep" dev vx6 nud permanent
    nsx "$ns" bridge fdb append "$peer_vtep" dev vx6 dst "$peer_ul" self permanent
    nsx "$ns" ip -6 route add fd00:244:$peer::/64 via fd00:244:$peer:: dev vx6 onlink
  done
}

del_vx() { for ns in "$NA" "$NB"; do nsx "$ns" ip link del "$1" 2>/dev/null || true; done; }

start_capture() { # ns dev file [extra tcpdump args]
  local ns=$1 dev=$2 file=$3; shift 3
  # `ip netns exec` execs tcpdump, so $! is tcpdump itself and SIGINT reaches it.
  ip netns exec "$ns" tcpdump -Z root -i "$dev" -U --immediate-mode -n -s 262144 "$@" -w "$file" 2>/dev/null &
  TCPDUMP_PIDS+=($!)
}
stop_captures() {
  sleep 0.5
  for p in "${TCPDUMP_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${TCPDUMP_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  TCPDUMP_PIDS=()
}

# traffic FAMILY: 4 or 6
traffic() {
  local fam=$1 dst big
  if [ "$fam" = 4 ]; then dst=10.244.2.11; big=1430; else dst=fd00:244:2::11; big=1410; fi
  # listener in pod B for the TCP handshake
  nsx "$PB" "$PY" - "$fam" <<'EOF' &
import socket, sys
fam = socket.AF_INET if sys.argv[1] == "4" else socket.AF_INET6
s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", 8080)); s.listen(1); s.settimeout(5)
c, _ = s.accept(); c.recv(100); c.close(); s.close()
EOF
  local listener=$!
  sleep 0.3
  nsx "$PA" ping -$fam -c 1 -W 2 -s 56 "$dst" >/dev/null
  nsx "$PA" "$PY" - "$fam" "$dst" <<'EOF'
import socket, sys, time
fam = socket.AF_INET if sys.argv[1] == "4" else socket.AF_INET6
dst = sys.argv[2]
u = socket.socket(fam, socket.SOCK_DGRAM)
u.bind(("", 40000))
u.sendto(bytes(range(64)), (dst, 9999))          # closed port -> ICMP port unreachable
time.sleep(0.2)
u.sendto(bytes(i & 0xff for i in range(2000)), (dst, 9999))   # 2000 B -> IP fragments
time.sleep(0.2)
t = socket.socket(fam, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("", 40001)); t.settimeout(2)
t.connect((dst, 8080)); t.sendall(b"hello"); time.sleep(0.1); t.close()
time.sleep(0.2)
r = socket.socket(fam, socket.SOCK_STREAM)
r.bind(("", 40002)); r.settimeout(2)
try:
    r.connect((dst, 81))                          # closed port -> SYN, RST
except OSError:
    pass
r.close()
time.sleep(0.2)
EOF
  wait "$listener" || true
  # DF ping one size above what fits the vx MTU: node A answers frag-needed / packet-too-big
  nsx "$PA" ping -$fam -c 1 -W 1 -M do -s "$big" "$dst" >/dev/null 2>&1 || true
  sleep 0.3
}

run_variant() { # name family opts...
  local name=$1 fam=$2; shift 2
  if [ "$fam" = 4 ]; then add_vx4 "$@"; else add_vx6 "$@"; fi
  for ns in "$PA" "$PB"; do nsx "$ns" ip neigh flush all; nsx "$ns" ip route flush cache 2>/dev/null || true; done
  for ns in "$NA" "$NB"; do nsx "$ns" ip neigh flush dev ul; done
  start_capture "$NA" ul "$OUT/$name-underlay.pcap"
  start_capture "$NA" pa "$OUT/$name-pod.pcap"
  if [ "$name" = vxlan4-default ]; then
    start_capture "$NA" any "$OUT/any-sll2.pcap"
    start_capture "$NA" any "$OUT/any-sll.pcap" -y LINUX_SLL
    start_capture "$NA" ul "$OUT/underlay-nano.pcap" --time-stamp-precision=nano
  fi
  sleep 1
  traffic "$fam"
  stop_captures
  if [ "$fam" = 4 ]; then del_vx vx4; else del_vx vx6; fi
  # fresh pods for the next variant: forget learned PMTU
  for ns in "$PA" "$PB"; do nsx "$ns" ip route flush cache 2>/dev/null || true; done
  echo "captured $name"
}

setup_base
run_variant vxlan4-default 4
run_variant vxlan4-udpcsum 4 udpcsum
run_variant vxlan4-noudpcsum 4 noudpcsum
run_variant vxlan6-default 6
run_variant vxlan6-zerocsum 6 udp6zerocsumtx udp6zerocsumrx

{
  echo "kernel: $(uname -r)"
  echo "iproute2: $(ip -V)"
  echo "tcpdump: $(tcpdump --version 2>&1 | head -1)"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$OUT/CAPTURE-ENV.txt"
echo "done: $OUT"
