// Link layers of captured records, and getting from a record to the IP packet it carries.
//
// The underlay and host ports of the data plane carry bare IP packets, so replaying a capture
// taken on an Ethernet device or with `tcpdump -i any` means stripping the link header first.
//
//   Ethernet (1):   dst(6) src(6) [0x8100/0x88a8 tci(2)]* ethertype(2)
//   Linux SLL (113):  pkttype(2) arphrd(2) addrlen(2) addr(8) protocol(2)          = 16 bytes
//   Linux SLL2 (276): protocol(2) reserved(2) ifindex(4) arphrd(2) pkttype(1) addrlen(1) addr(8) = 20
//   Raw (101): IPv4 or IPv6 by the version nibble;  IPv4 (228), IPv6 (229): fixed.

import { LinkType, type PcapRecord } from "./format.ts";

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;

/** Linux packet types (include/uapi/linux/if_packet.h) as carried by SLL/SLL2. */
export const SllPacketType = {
  Host: 0,
  Broadcast: 1,
  Multicast: 2,
  OtherHost: 3,
  Outgoing: 4,
} as const;

export interface LinkPayload {
  /** EtherType of the payload (0x0800, 0x86dd, 0x0806, ...). */
  ethertype: number;
  /** Bytes after the link header (a view into the record). */
  payload: Uint8Array;
  /** SLL/SLL2 only: the Linux packet type (SllPacketType). */
  sllPacketType?: number;
  /** SLL2 only: the interface index. */
  ifindex?: number;
}

export interface IpPacket {
  version: 4 | 6;
  /** The IP packet, from the first byte of its header (a view into the record). */
  bytes: Uint8Array;
}

const u16 = (b: Uint8Array, off: number) => (b[off]! << 8) | b[off + 1]!;

/**
 * Splits a captured frame into its link header and payload.
 * Returns `undefined` when the frame is shorter than its link header or the link type is unknown.
 */
export function splitLinkLayer(linkType: number, data: Uint8Array): LinkPayload | undefined {
  switch (linkType) {
    case LinkType.Ethernet: {
      let off = 12;
      if (data.length < off + 2) return undefined;
      let ethertype = u16(data, off);
      while (ethertype === ETHERTYPE_VLAN || ethertype === ETHERTYPE_QINQ) {
        off += 4;
        if (data.length < off + 2) return undefined;
        ethertype = u16(data, off);
      }
      return { ethertype, payload: data.subarray(off + 2) };
    }
    case LinkType.LinuxSll: {
      if (data.length < 16) return undefined;
      return { ethertype: u16(data, 14), payload: data.subarray(16), sllPacketType: u16(data, 0) };
    }
    case LinkType.LinuxSll2: {
      if (data.length < 20) return undefined;
      const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
      return { ethertype: u16(data, 0), payload: data.subarray(20), sllPacketType: data[10]!, ifindex: dv.getUint32(4, false) };
    }
    case LinkType.Raw: {
      if (data.length < 1) return undefined;
      const v = data[0]! >> 4;
      if (v === 4) return { ethertype: ETHERTYPE_IPV4, payload: data };
      if (v === 6) return { ethertype: ETHERTYPE_IPV6, payload: data };
      return undefined;
    }
    case LinkType.Ipv4:
      return { ethertype: ETHERTYPE_IPV4, payload: data };
    case LinkType.Ipv6:
      return { ethertype: ETHERTYPE_IPV6, payload: data };
    default:
      return undefined;
  }
}

/**
 * The IP packet a captured frame carries, or `undefined` if it carries something else (ARP, LLDP)
 * or is too short. Only the link header is checked; the IP header itself is not validated beyond
 * its version nibble agreeing with the EtherType.
 */
export function ipPacketOf(linkType: number, data: Uint8Array): IpPacket | undefined {
  const l = splitLinkLayer(linkType, data);
  if (l === undefined || l.payload.length < 1) return undefined;
  const v = l.payload[0]! >> 4;
  if (l.ethertype === ETHERTYPE_IPV4 && v === 4) return { version: 4, bytes: l.payload };
  if (l.ethertype === ETHERTYPE_IPV6 && v === 6) return { version: 6, bytes: l.payload };
  return undefined;
}

/** `ipPacketOf` for a record read from a file. */
export function recordIpPacket(rec: PcapRecord): IpPacket | undefined {
  return ipPacketOf(rec.linkType, rec.data);
}
