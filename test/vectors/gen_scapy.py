#!/usr/bin/python3
"""Builds the header test vectors with scapy, an implementation independent of ours.

Run with Debian's interpreter (its python3-scapy package loads there):

    /usr/bin/python3 test/vectors/gen_scapy.py > test/vectors/scapy.json

Output: a JSON list of {name, provenance, hex, fields}. `hex` is scapy's serialisation; `fields`
are the values scapy reads back when it dissects those bytes (checksums computed by scapy,
lengths, addresses, ports, VNI, ...), keyed per layer: eth, arp, ipv4, ipv6, udp, tcp, icmp,
icmpv6, vxlan, geneve; a second occurrence of a layer (the inner frame of a tunnel) gets "_2".
Every random field (IP ID, TCP sequence, fragment ID, MACs) is fixed, so the output is
deterministic and a test can rerun this script and compare.
"""
import json
import sys

from scapy.all import (
    ARP, ICMP, IP, TCP, UDP, Ether, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting, ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, ICMPv6PacketTooBig, ICMPv6TimeExceeded,
    ICMPv6DestUnreach, IPOption_RR, IPOption_Router_Alert, Raw, RouterAlert, PadN, fragment, conf,
)
from scapy.layers.vxlan import VXLAN
from scapy.contrib.geneve import GENEVE, GeneveOptions
import scapy

conf.verb = 0

POD_A_MAC = "02:00:00:01:00:11"
GW_A_MAC = "02:00:00:01:00:01"
VTEP_A = "02:aa:00:00:01:04"
VTEP_B = "02:bb:00:00:02:04"
UL_A_MAC = "02:00:99:00:00:01"
UL_B_MAC = "02:00:99:00:00:02"
POD_A4, POD_B4, GW_A4 = "10.244.1.11", "10.244.2.11", "10.244.1.1"
POD_A6, POD_B6, GW_A6 = "fd00:244:1::11", "fd00:244:2::11", "fd00:244:1::1"
UL_A4, UL_B4 = "10.99.0.1", "10.99.0.2"
UL_A6, UL_B6 = "fd00:99::1", "fd00:99::2"
PAYLOAD64 = bytes(range(64))

VERSION = f"scapy {scapy.VERSION}"
vectors = []


def add(name, pkt, how, link="ethernet"):
    """Serialise `pkt`, dissect the bytes again, and record the layers' fields."""
    raw = bytes(pkt)
    first = {"ethernet": Ether, "ipv4": IP, "ipv6": IPv6}[link]
    vectors.append({
        "name": name,
        "provenance": f"{VERSION} (Debian python3-scapy), test/vectors/gen_scapy.py: {how}",
        "link": link,
        "hex": raw.hex(),
        "fields": fields_of(first(raw), raw, pkt),
    })


def ipv6_walk(ip6):
    """Extension-header walk (RFC 8200 §4): chain of header types, the upper-layer protocol and its offset."""
    chain = []
    nh = ip6.nh
    off = 40
    layer = ip6.payload
    ext = (IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment)
    while isinstance(layer, ext):
        chain.append(nh)
        if isinstance(layer, IPv6ExtHdrFragment):
            hlen = 8
            if layer.offset != 0:
                off += hlen
                nh = layer.nh
                break
        else:
            hlen = (layer.len + 1) * 8
        off += hlen
        nh = layer.nh
        layer = layer.payload
    return chain, nh, off


def fields_of(pkt, raw, built):
    out = {}
    seen = {}
    layer = pkt

    def put(key, value):
        seen[key] = seen.get(key, 0) + 1
        out[key if seen[key] == 1 else f"{key}_{seen[key]}"] = value

    while layer is not None and not isinstance(layer, scapy.packet.NoPayload):
        if isinstance(layer, Ether):
            put("eth", {"dst": layer.dst, "src": layer.src, "ethertype": layer.type})
        elif isinstance(layer, ARP):
            put("arp", {"op": layer.op, "senderMac": layer.hwsrc, "senderIp": layer.psrc,
                        "targetMac": layer.hwdst, "targetIp": layer.pdst})
        elif isinstance(layer, IP) and type(layer) is IP:
            put("ipv4", {"headerLength": layer.ihl * 4, "tos": layer.tos, "totalLength": layer.len,
                         "id": layer.id, "df": bool(layer.flags.DF), "mf": bool(layer.flags.MF),
                         "fragOffset": layer.frag * 8, "ttl": layer.ttl, "protocol": layer.proto,
                         "checksum": layer.chksum, "src": layer.src, "dst": layer.dst,
                         "optionsHex": raw_options(layer)})
        elif isinstance(layer, IPv6) and type(layer) is IPv6:
            chain, upper, upper_off = ipv6_walk(layer)
            put("ipv6", {"trafficClass": layer.tc, "flowLabel": layer.fl, "payloadLength": layer.plen,
                         "nextHeader": layer.nh, "hopLimit": layer.hlim, "src": layer.src, "dst": layer.dst,
                         "extHeaders": chain, "upperProtocol": upper, "upperOffset": upper_off})
        elif isinstance(layer, IPv6ExtHdrFragment):
            put("ipv6frag", {"nextHeader": layer.nh, "fragOffset": layer.offset * 8, "m": bool(layer.m), "id": layer.id})
        elif isinstance(layer, UDP) and type(layer) is UDP:
            put("udp", {"srcPort": layer.sport, "dstPort": layer.dport, "length": layer.len, "checksum": layer.chksum})
        elif isinstance(layer, TCP) and type(layer) is TCP:
            put("tcp", {"srcPort": layer.sport, "dstPort": layer.dport, "seq": layer.seq, "ack": layer.ack,
                        "dataOffset": layer.dataofs * 4, "flags": int(layer.flags), "window": layer.window,
                        "checksum": layer.chksum, "urgent": layer.urgptr})
        elif isinstance(layer, ICMP):
            d = {"type": layer.type, "code": layer.code, "checksum": layer.chksum}
            if layer.type in (0, 8):
                d.update({"id": layer.id, "seq": layer.seq})
            if layer.type == 3 and layer.code == 4:
                d["mtu"] = layer.nexthopmtu
            put("icmp", d)
            # the quoted datagram of an ICMP error is not dissected further
            if layer.type in (3, 11):
                break
        elif layer.__class__.__name__.startswith("ICMPv6"):
            if isinstance(layer, (ICMPv6NDOptSrcLLAddr, ICMPv6NDOptDstLLAddr)):
                opts = out["icmpv6"].setdefault("options", [])
                opts.append({"type": layer.type, "length": layer.len * 8, "lladdr": layer.lladdr})
            else:
                d = {"type": layer.type, "code": layer.code, "checksum": layer.cksum}
                if isinstance(layer, (ICMPv6EchoRequest, ICMPv6EchoReply)):
                    d.update({"id": layer.id, "seq": layer.seq})
                if isinstance(layer, ICMPv6PacketTooBig):
                    d["mtu"] = layer.mtu
                if isinstance(layer, (ICMPv6ND_NS, ICMPv6ND_NA)):
                    d["target"] = layer.tgt
                if isinstance(layer, ICMPv6ND_NA):
                    d.update({"router": bool(layer.R), "solicited": bool(layer.S), "override": bool(layer.O)})
                put("icmpv6", d)
                if isinstance(layer, (ICMPv6PacketTooBig, ICMPv6TimeExceeded, ICMPv6DestUnreach)):
                    break
        elif isinstance(layer, VXLAN):
            put("vxlan", {"flags": int(layer.flags), "vni": layer.vni})
        elif isinstance(layer, GENEVE):
            put("geneve", {"version": layer.version, "optionsLength": layer.optionlen * 4, "oam": bool(layer.oam),
                           "critical": bool(layer.critical), "protocol": layer.proto, "vni": layer.vni,
                           # scapy 2.5 stops dissecting options after one with no data, so the
                           # option list is taken from the packet as built (its lengths in bytes)
                           "options": [{"class": o.classid, "type": o.type, "length": len(bytes(o.data)),
                                        "dataHex": bytes(o.data).hex()} for o in built[GENEVE].options]})
        elif isinstance(layer, Raw):
            put("payload", {"length": len(layer.load)})
            break
        layer = layer.payload
    return out


def raw_options(ip):
    return bytes(ip)[20:ip.ihl * 4].hex()


# ---- Ethernet + ARP ------------------------------------------------------------------------------
add("ethernet/ipv4-udp", Ether(dst=GW_A_MAC, src=POD_A_MAC) / IP(src=POD_A4, dst=POD_B4, id=1) /
    UDP(sport=40000, dport=9999) / PAYLOAD64,
    "Ether/IP/UDP with 64 bytes 00..3f")
add("arp/request-gateway", Ether(dst="ff:ff:ff:ff:ff:ff", src=POD_A_MAC) /
    ARP(op=1, hwsrc=POD_A_MAC, psrc=POD_A4, hwdst="00:00:00:00:00:00", pdst=GW_A4),
    "ARP who-has 10.244.1.1 (the pod's gateway) from the pod")
add("arp/reply-gateway", Ether(dst=POD_A_MAC, src=GW_A_MAC) /
    ARP(op=2, hwsrc=GW_A_MAC, psrc=GW_A4, hwdst=POD_A_MAC, pdst=POD_A4),
    "ARP reply 10.244.1.1 is-at the router MAC")

# ---- IPv4 ----------------------------------------------------------------------------------------
add("ipv4/udp", IP(src=POD_A4, dst=POD_B4, id=0x1c46, flags="DF", ttl=64) / UDP(sport=40000, dport=9999) / PAYLOAD64,
    "IP(DF)/UDP, no link layer", link="ipv4")
add("ipv4/options-rr-ra", IP(src=POD_A4, dst=POD_B4, id=7, ttl=64,
                              options=[IPOption_Router_Alert(), IPOption_RR(routers=["10.0.0.1", "0.0.0.0"])]) /
    UDP(sport=5000, dport=6000) / b"opts",
    "IP with Router Alert + Record Route options (IHL 8)", link="ipv4")
add("ipv4/tos-ttl1", IP(src=POD_A4, dst=POD_B4, id=9, tos=0xb8, ttl=1) / UDP(sport=1234, dport=53) / b"q",
    "IP TOS 0xb8 (EF), TTL 1", link="ipv4")

# ---- IPv6 + extension headers ------------------------------------------------------------------
add("ipv6/udp", IPv6(src=POD_A6, dst=POD_B6, hlim=64, fl=0x12345, tc=0) / UDP(sport=40000, dport=9999) / PAYLOAD64,
    "IPv6/UDP with flow label", link="ipv6")
add("ipv6/hbh-udp", IPv6(src=POD_A6, dst=POD_B6, hlim=64) / IPv6ExtHdrHopByHop(options=[RouterAlert(), PadN(optdata=b"")]) /
    UDP(sport=1, dport=2) / b"hbh",
    "IPv6/Hop-by-Hop(Router Alert, PadN)/UDP", link="ipv6")
add("ipv6/routing-udp", IPv6(src=POD_A6, dst=POD_B6, hlim=64) / IPv6ExtHdrRouting(type=0, segleft=0, addresses=["fd00::1"]) /
    UDP(sport=1, dport=2) / b"rh",
    "IPv6/Routing(type 0, segments left 0, one address)/UDP", link="ipv6")
add("ipv6/fragment-udp", IPv6(src=POD_A6, dst=POD_B6, hlim=64) / IPv6ExtHdrFragment(id=0xabcdef01, offset=0, m=0) /
    UDP(sport=1, dport=2) / b"atomic",
    "IPv6/Fragment(offset 0, M=0: an atomic fragment, RFC 6946)/UDP", link="ipv6")
add("ipv6/dstopts-udp", IPv6(src=POD_A6, dst=POD_B6, hlim=64) / IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00\x00\x00\x00")]) /
    UDP(sport=1, dport=2) / b"do",
    "IPv6/Destination Options(PadN)/UDP", link="ipv6")
add("ipv6/ext-chain-tcp", IPv6(src=POD_A6, dst=POD_B6, hlim=64) /
    IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\x00\x00\x00\x00")]) /
    IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00\x00\x00\x00")]) /
    IPv6ExtHdrRouting(type=0, segleft=0, addresses=["fd00::2"]) /
    IPv6ExtHdrFragment(id=0x11223344, offset=0, m=0) /
    IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00" * 12)]) /
    TCP(sport=40001, dport=8080, seq=1000, flags="S", window=64240),
    "IPv6 with the RFC 8200 §4.1 order: HBH, DestOpt, Routing, Fragment, DestOpt, then TCP SYN", link="ipv6")
add("ipv6/fragment-nonfirst", IPv6(src=POD_A6, dst=POD_B6, hlim=64) / IPv6ExtHdrFragment(nh=17, id=0x55, offset=1448 // 8, m=0) /
    Raw(bytes(560)),
    "IPv6 non-first fragment (offset 1448): the upper-layer header is not present", link="ipv6")

# ---- UDP / TCP -----------------------------------------------------------------------------------
add("udp/ipv4-zero-checksum", IP(src=UL_A4, dst=UL_B4, id=2) / UDP(sport=50000, dport=9, chksum=0) / bytes(8),
    "IPv4 UDP with checksum 0 (not computed, RFC 768)", link="ipv4")
add("udp/ipv4-checksum-ffff", IP(src="0.0.0.0", dst="0.0.0.0", id=0) / UDP(sport=0, dport=0) / bytes.fromhex("ffda"),
    "IPv4 UDP whose computed checksum is 0, sent as 0xffff (RFC 768)", link="ipv4")
add("tcp/ipv4-syn-options", IP(src=POD_A4, dst=POD_B4, id=12460, flags="DF", ttl=64) /
    TCP(sport=40001, dport=8080, seq=2239871008, flags="S", window=64240,
        options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (2251567847, 0)), ("NOP", None), ("WScale", 10)]),
    "TCP SYN with MSS, SACK-permitted, timestamps, NOP, window scale", link="ipv4")
add("tcp/ipv4-psh-ack", IP(src=POD_A4, dst=POD_B4, id=12462, flags="DF", ttl=64) /
    TCP(sport=40001, dport=8080, seq=2239871009, ack=870483944, flags="PA", window=63,
        options=[("NOP", None), ("NOP", None), ("Timestamp", (2251567847, 3308742922))]) / b"hello",
    "TCP PSH/ACK with 5 bytes", link="ipv4")
add("tcp/ipv6-syn", IPv6(src=POD_A6, dst=POD_B6, hlim=64) / TCP(sport=40001, dport=8080, seq=1, flags="S", window=65535,
                                                                options=[("MSS", 1370)]),
    "TCP SYN over IPv6", link="ipv6")

# ---- ICMP ----------------------------------------------------------------------------------------
orig4 = IP(src=POD_A4, dst=POD_B4, id=0x4242, ttl=1) / UDP(sport=40000, dport=9999) / PAYLOAD64
big4 = IP(src=POD_A4, dst=POD_B4, id=0, flags="DF", ttl=64) / ICMP(type=8, id=0x5e0d, seq=1) / bytes(1430)
add("icmp/echo-request", Ether(dst=GW_A_MAC, src=POD_A_MAC) / IP(src=POD_A4, dst=POD_B4, id=0x6b2a, flags="DF", ttl=64) /
    ICMP(type=8, id=0x2cf8, seq=1) / PAYLOAD64[:56],
    "Ether/IP/ICMP echo request with 56 bytes")
add("icmp/echo-reply", IP(src=POD_B4, dst=POD_A4, id=0x68a1, ttl=64) / ICMP(type=0, id=0x2cf8, seq=1) / PAYLOAD64[:56],
    "IP/ICMP echo reply with 56 bytes", link="ipv4")
add("icmp/time-exceeded-8", IP(src=GW_A4, dst=POD_A4, id=3, tos=0xc0, ttl=64) / ICMP(type=11, code=0) / bytes(orig4)[:28],
    "ICMP time exceeded in transit quoting the IP header + 8 bytes (RFC 792)", link="ipv4")
add("icmp/time-exceeded-full", IP(src=GW_A4, dst=POD_A4, id=4, tos=0xc0, ttl=64) / ICMP(type=11, code=0) / bytes(orig4),
    "ICMP time exceeded quoting the whole 92-byte datagram (RFC 1812 §4.3.2.3)", link="ipv4")
add("icmp/frag-needed-1450", IP(src=GW_A4, dst=POD_A4, id=5, tos=0xc0, ttl=64) /
    ICMP(type=3, code=4, nexthopmtu=1450) / bytes(big4)[:548],
    "ICMP destination unreachable, fragmentation needed, next-hop MTU 1450 (RFC 1191 §4), quoting 548 bytes (576 total)",
    link="ipv4")
add("icmp/port-unreachable", IP(src=POD_B4, dst=POD_A4, id=6, tos=0xc0, ttl=64) / ICMP(type=3, code=3) / bytes(orig4)[:28],
    "ICMP port unreachable", link="ipv4")

# ---- ICMPv6 / NDP --------------------------------------------------------------------------------
orig6 = IPv6(src=POD_A6, dst=POD_B6, hlim=1) / UDP(sport=40000, dport=9999) / PAYLOAD64
big6 = IPv6(src=POD_A6, dst=POD_B6, hlim=64) / ICMPv6EchoRequest(id=7, seq=1) / bytes(1410)
add("icmpv6/echo-request", Ether(dst=GW_A_MAC, src=POD_A_MAC) / IPv6(src=POD_A6, dst=POD_B6, hlim=64) /
    ICMPv6EchoRequest(id=0x600c, seq=1, data=PAYLOAD64[:56]),
    "Ether/IPv6/ICMPv6 echo request with 56 bytes")
add("icmpv6/echo-reply", IPv6(src=POD_B6, dst=POD_A6, hlim=64) / ICMPv6EchoReply(id=0x600c, seq=1, data=PAYLOAD64[:56]),
    "IPv6/ICMPv6 echo reply", link="ipv6")
add("icmpv6/packet-too-big-1280", IPv6(src=GW_A6, dst=POD_A6, hlim=64) / ICMPv6PacketTooBig(mtu=1280) / bytes(big6)[:1280 - 48],
    "ICMPv6 Packet Too Big MTU 1280, quoting as much as fits in 1280 bytes (RFC 4443 §2.4(c), §3.2)", link="ipv6")
add("icmpv6/packet-too-big-1430", IPv6(src=GW_A6, dst=POD_A6, hlim=64) / ICMPv6PacketTooBig(mtu=1430) / bytes(big6)[:1280 - 48],
    "ICMPv6 Packet Too Big MTU 1430", link="ipv6")
add("icmpv6/time-exceeded", IPv6(src=GW_A6, dst=POD_A6, hlim=64) / ICMPv6TimeExceeded(code=0) / bytes(orig6),
    "ICMPv6 time exceeded (hop limit) quoting the whole datagram (RFC 4443 §3.3)", link="ipv6")
add("icmpv6/ndp-ns", Ether(dst="33:33:ff:00:00:01", src=POD_A_MAC) /
    IPv6(src=POD_A6, dst="ff02::1:ff00:1", hlim=255) / ICMPv6ND_NS(tgt=GW_A6) / ICMPv6NDOptSrcLLAddr(lladdr=POD_A_MAC),
    "NDP Neighbor Solicitation for the gateway to its solicited-node address, with the source link-layer option (RFC 4861 §4.3)")
add("icmpv6/ndp-na", Ether(dst=POD_A_MAC, src=GW_A_MAC) /
    IPv6(src=GW_A6, dst=POD_A6, hlim=255) / ICMPv6ND_NA(tgt=GW_A6, R=1, S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr=GW_A_MAC),
    "NDP Neighbor Advertisement (router, solicited, override) with the target link-layer option (RFC 4861 §4.4)")
add("icmpv6/ndp-ns-dad", Ether(dst="33:33:ff:00:00:11", src=POD_A_MAC) /
    IPv6(src="::", dst="ff02::1:ff00:11", hlim=255) / ICMPv6ND_NS(tgt=POD_A6),
    "NDP NS for duplicate address detection: unspecified source, no options (RFC 4862 §5.4.2)")

# ---- VXLAN ---------------------------------------------------------------------------------------
inner4 = Ether(dst=VTEP_B, src=VTEP_A) / IP(src=POD_A4, dst=POD_B4, id=0x6b2a, flags="DF", ttl=63) / ICMP(type=8, id=0x2cf8, seq=1) / PAYLOAD64[:56]
add("vxlan/ipv4-underlay", Ether(dst=UL_B_MAC, src=UL_A_MAC) / IP(src=UL_A4, dst=UL_B4, id=0x5fb5, ttl=64) /
    UDP(sport=42302, dport=8472) / VXLAN(flags=0x08, vni=1) / inner4,
    "flannel-style VXLAN: IPv4 outer (DF clear, TTL 64), UDP 8472, VNI 1, inner Ethernet VTEP→VTEP (RFC 7348 §5)")
add("vxlan/ipv4-underlay-nocsum", IP(src=UL_A4, dst=UL_B4, id=0x5fb6, ttl=64) /
    UDP(sport=42302, dport=8472, chksum=0) / VXLAN(flags=0x08, vni=1) / inner4,
    "VXLAN, IPv4 outer with UDP checksum 0 (RFC 7348 §5: SHOULD be transmitted as zero)", link="ipv4")
add("vxlan/vni-4096-port-4789", IP(src=UL_A4, dst=UL_B4, id=1, ttl=64) / UDP(sport=55555, dport=4789) / VXLAN(flags=0x08, vni=4096) / inner4,
    "VXLAN on the IANA port 4789 with VNI 4096 (the Windows-compatible flannel setting)", link="ipv4")
inner6 = Ether(dst="02:bb:00:00:02:06", src="02:aa:00:00:01:06") / IPv6(src=POD_A6, dst=POD_B6, hlim=63, fl=0xe23f7) / \
    ICMPv6EchoRequest(id=0x600c, seq=1, data=PAYLOAD64[:56])
add("vxlan/ipv6-underlay", IPv6(src=UL_A6, dst=UL_B6, hlim=64) / UDP(sport=60310, dport=8472) / VXLAN(flags=0x08, vni=1) / inner6,
    "VXLAN over IPv6 (UDP checksum mandatory, RFC 8200 §8.1), inner IPv6", link="ipv6")
add("vxlan/bad-flags", IP(src=UL_A4, dst=UL_B4, id=2, ttl=64) / UDP(sport=42302, dport=8472) / VXLAN(flags=0x0c, vni=1) / inner4,
    "VXLAN with a reserved flag bit set besides I (flags 0x0c): decap must drop", link="ipv4")

# ---- Geneve --------------------------------------------------------------------------------------
add("geneve/ipv4-no-options", IP(src=UL_A4, dst=UL_B4, id=3, ttl=64) / UDP(sport=50001, dport=6081) /
    GENEVE(vni=1, proto=0x6558) / inner4,
    "Geneve without options, protocol 0x6558 (Ethernet), VNI 1 (RFC 8926 §3.4)", link="ipv4")
add("geneve/ipv4-options", IP(src=UL_A4, dst=UL_B4, id=4, ttl=64) / UDP(sport=50002, dport=6081) /
    GENEVE(vni=0x123456, proto=0x6558, options=[GeneveOptions(classid=0x0102, type=0x01, data=b"\x00\x00\x00\x2a"),
                                                GeneveOptions(classid=0xffff, type=0x05, data=b"")]) / inner4,
    "Geneve with two non-critical options (8 + 4 bytes; Opt Len 3)", link="ipv4")
add("geneve/ipv4-critical-option", IP(src=UL_A4, dst=UL_B4, id=5, ttl=64) / UDP(sport=50003, dport=6081) /
    GENEVE(vni=1, proto=0x6558, critical=1, options=[GeneveOptions(classid=0x0102, type=0x80, data=b"\xde\xad\xbe\xef")]) / inner4,
    "Geneve with one critical option (type high bit set) and the C flag: a receiver that does not know it must drop (RFC 8926 §3.5.1)",
    link="ipv4")
add("geneve/ipv6-underlay", IPv6(src=UL_A6, dst=UL_B6, hlim=64) / UDP(sport=50004, dport=6081) / GENEVE(vni=1, proto=0x6558) / inner6,
    "Geneve over IPv6", link="ipv6")

# ---- IPv4 fragments of a 2000-byte UDP datagram ------------------------------------------------
dgram = IP(src=POD_A4, dst=POD_B4, id=0xb00b, ttl=64) / UDP(sport=40000, dport=9999) / bytes(i & 0xff for i in range(2000))
frags = fragment(dgram, fragsize=800)
assert len(frags) == 3
for label, f in zip(("first", "middle", "last"), frags):
    add(f"ipv4-fragment/{label}", f,
        f"scapy fragment(IP/UDP with 2000 bytes 00,01,..ff,00,..; fragsize=800) → {label} of 3 (RFC 791 §3.2)", link="ipv4")
add("ipv4-fragment/whole", dgram, "the unfragmented 2028-byte datagram the three fragments reassemble to", link="ipv4")

json.dump(vectors, sys.stdout, indent=1, sort_keys=True)
sys.stdout.write("\n")
