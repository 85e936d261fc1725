// Classic libpcap file format (not pcapng).
//
// Design notes. A file is a 24-byte global header followed by records, each a 16-byte record
// header and `inclLen` captured bytes. The magic number tells both the byte order (read it in
// either order) and the timestamp resolution (microseconds or nanoseconds). We read all four
// variants and always write microsecond little-endian, which every tool reads.
//
//   global header                         record header
//   0  magic        u32                   0  ts_sec          u32
//   4  version_major u16 (2)              4  ts_usec/nsec    u32
//   6  version_minor u16 (4)              8  incl_len        u32  bytes present in the file
//   8  thiszone     i32 (0)               12 orig_len        u32  bytes on the wire
//   12 sigfigs      u32 (0)
//   16 snaplen      u32
//   20 linktype     u32  low 16 bits = LINKTYPE_*, bits 28..31 = FCS length / 2 if bit 26 set

export const GLOBAL_HEADER_LEN = 24;
export const RECORD_HEADER_LEN = 16;

/** Magic as read in the writer's own byte order. */
export const MAGIC_MICROS = 0xa1b2c3d4;
export const MAGIC_NANOS = 0xa1b23c4d;
/** pcapng section header block type; recognised only to say so clearly. */
export const PCAPNG_MAGIC = 0x0a0d0d0a;

/** libpcap's own upper bound on a record (MAXIMUM_SNAPLEN in pcap-int.h is 262144). */
export const MAX_RECORD_LEN = 262144;
export const DEFAULT_SNAPLEN = 262144;

/** The LINKTYPE_* values we understand (tcpdump.org/linktypes.html). */
export const LinkType = {
  /** DLT_EN10MB: Ethernet II (optionally with 802.1Q/802.1ad tags). */
  Ethernet: 1,
  /** Raw IP; the version nibble tells IPv4 from IPv6. */
  Raw: 101,
  /** Linux "cooked" capture v1 (tcpdump -i any on older libpcap, or -y LINUX_SLL). */
  LinuxSll: 113,
  Ipv4: 228,
  Ipv6: 229,
  /** Linux "cooked" capture v2 (tcpdump -i any on libpcap >= 1.10). */
  LinuxSll2: 276,
} as const;
export type LinkType = (typeof LinkType)[keyof typeof LinkType];

export const KNOWN_LINK_TYPES: ReadonlySet<number> = new Set(Object.values(LinkType));

/** A timestamp as seconds plus nanoseconds (0 <= nsec < 1e9 for well-formed files). */
export interface PcapTimestamp {
  sec: number;
  nsec: number;
}

export interface PcapRecord {
  ts: PcapTimestamp;
  /** The file's link type, repeated on every record so a record is self-describing. */
  linkType: number;
  /** The captured bytes (a view into the file buffer when read; copy it to keep it). */
  data: Uint8Array;
  /** Length of the packet on the wire; >= data.length when the capture was truncated by snaplen. */
  origLen: number;
}

export interface PcapHeader {
  littleEndian: boolean;
  nanosecond: boolean;
  versionMajor: number;
  versionMinor: number;
  thiszone: number;
  snaplen: number;
  linkType: number;
  /** FCS bytes at the end of each frame, from the link-type field's upper bits (usually 0). */
  fcsLen: number;
}

/** Thrown for a file that is not a classic pcap or is truncated or malformed; names the byte offset. */
export class PcapFormatError extends Error {
  override readonly name = "PcapFormatError";
  constructor(
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`pcap: ${detail} at byte offset ${offset}`);
  }
}
