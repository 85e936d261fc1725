// Reading classic pcap files: both byte orders, microsecond and nanosecond timestamps.
//
// Contract: `parsePcapHeader` and `PcapReader` validate every length against the buffer before
// touching it, so garbage input yields a `PcapFormatError` naming the offset and never an
// out-of-range read, a hang or a huge allocation. Record data are views into the input buffer
// (no copies).

import { open, readFile } from "node:fs/promises";
import {
  GLOBAL_HEADER_LEN,
  MAGIC_MICROS,
  MAGIC_NANOS,
  MAX_RECORD_LEN,
  PCAPNG_MAGIC,
  PcapFormatError,
  RECORD_HEADER_LEN,
  type PcapHeader,
  type PcapRecord,
} from "./format.ts";

export function parsePcapHeader(bytes: Uint8Array): PcapHeader {
  if (bytes.length < 4) throw new PcapFormatError(0, `file too short for a magic number (${bytes.length} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLE = dv.getUint32(0, true);
  const magicBE = dv.getUint32(0, false);
  let littleEndian: boolean;
  let nanosecond: boolean;
  if (magicLE === MAGIC_MICROS || magicLE === MAGIC_NANOS) {
    littleEndian = true;
    nanosecond = magicLE === MAGIC_NANOS;
  } else if (magicBE === MAGIC_MICROS || magicBE === MAGIC_NANOS) {
    littleEndian = false;
    nanosecond = magicBE === MAGIC_NANOS;
  } else if (magicLE === PCAPNG_MAGIC) {
    throw new PcapFormatError(0, "this is a pcapng file; only classic pcap is supported (convert with `tshark -r in -F pcap -w out`)");
  } else {
    throw new PcapFormatError(0, `unknown magic number 0x${magicBE.toString(16).padStart(8, "0")}`);
  }
  if (bytes.length < GLOBAL_HEADER_LEN) {
    throw new PcapFormatError(bytes.length, `truncated global header (${bytes.length} of ${GLOBAL_HEADER_LEN} bytes)`);
  }
  const versionMajor = dv.getUint16(4, littleEndian);
  const versionMinor = dv.getUint16(6, littleEndian);
  if (versionMajor !== 2) throw new PcapFormatError(4, `unsupported version ${versionMajor}.${versionMinor}`);
  const rawLinkType = dv.getUint32(20, littleEndian);
  const fcsPresent = (rawLinkType & (1 << 26)) !== 0;
  return {
    littleEndian,
    nanosecond,
    versionMajor,
    versionMinor,
    thiszone: dv.getInt32(8, littleEndian),
    snaplen: dv.getUint32(16, littleEndian),
    linkType: rawLinkType & 0xffff,
    fcsLen: fcsPresent ? ((rawLinkType >>> 28) & 0xf) * 2 : 0,
  };
}

/** Iterates the records of an in-memory pcap file. Iteration throws `PcapFormatError` on a bad record. */
export class PcapReader implements Iterable<PcapRecord> {
  readonly header: PcapHeader;
  private readonly dv: DataView;

  constructor(readonly bytes: Uint8Array) {
    this.header = parsePcapHeader(bytes);
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  *[Symbol.iterator](): Iterator<PcapRecord> {
    const { littleEndian: le, nanosecond, linkType } = this.header;
    const end = this.bytes.length;
    // A record may legitimately exceed a small snaplen only in broken writers; bound by the
    // larger of the two so that a file with snaplen 65535 and jumbo records still reads.
    const maxLen = Math.max(MAX_RECORD_LEN, this.header.snaplen);
    let off = GLOBAL_HEADER_LEN;
    while (off < end) {
      if (end - off < RECORD_HEADER_LEN) {
        throw new PcapFormatError(off, `truncated record header (${end - off} of ${RECORD_HEADER_LEN} bytes)`);
      }
      const sec = this.dv.getUint32(off, le);
      const frac = this.dv.getUint32(off + 4, le);
      const inclLen = this.dv.getUint32(off + 8, le);
      const origLen = this.dv.getUint32(off + 12, le);
      if (inclLen > maxLen) {
        throw new PcapFormatError(off + 8, `record length ${inclLen} exceeds the maximum ${maxLen}`);
      }
      const dataOff = off + RECORD_HEADER_LEN;
      if (end - dataOff < inclLen) {
        throw new PcapFormatError(dataOff, `truncated record data (${end - dataOff} of ${inclLen} bytes)`);
      }
      yield {
        ts: { sec, nsec: nanosecond ? frac : frac * 1000 },
        linkType,
        data: this.bytes.subarray(dataOff, dataOff + inclLen),
        origLen,
      };
      off = dataOff + inclLen;
    }
  }

  /** All records as an array (data still views into `bytes`). */
  records(): PcapRecord[] {
    return [...this];
  }
}

/** Parses a whole pcap held in memory. */
export function parsePcap(bytes: Uint8Array): { header: PcapHeader; records: PcapRecord[] } {
  const reader = new PcapReader(bytes);
  return { header: reader.header, records: reader.records() };
}

/** Reads and parses a pcap file; errors name the file. */
export async function readPcapFile(path: string): Promise<{ header: PcapHeader; records: PcapRecord[] }> {
  const buf = await readFile(path);
  try {
    return parsePcap(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
  } catch (e) {
    if (e instanceof PcapFormatError) {
      const err = new PcapFormatError(e.offset, `${e.detail} (in ${path})`);
      throw err;
    }
    throw e;
  }
}

/**
 * Reads a pcap file record by record without loading it whole (for captures larger than memory).
 * Each record's data is a fresh buffer. Errors are `PcapFormatError`s naming the offset and file.
 */
export async function* streamPcapFile(path: string): AsyncGenerator<PcapRecord & { header: PcapHeader }> {
  const fh = await open(path, "r");
  try {
    const rename = (e: unknown) => (e instanceof PcapFormatError ? new PcapFormatError(e.offset, `${e.detail} (in ${path})`) : e);
    const readAt = async (pos: number, len: number): Promise<Uint8Array> => {
      const buf = new Uint8Array(len);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === len ? buf : buf.subarray(0, got);
    };
    const head = await readAt(0, GLOBAL_HEADER_LEN);
    let header: PcapHeader;
    try {
      header = parsePcapHeader(head);
    } catch (e) {
      throw rename(e);
    }
    const le = header.littleEndian;
    const maxLen = Math.max(MAX_RECORD_LEN, header.snaplen);
    let off = GLOBAL_HEADER_LEN;
    for (;;) {
      const rh = await readAt(off, RECORD_HEADER_LEN);
      if (rh.length === 0) return;
      if (rh.length < RECORD_HEADER_LEN) throw rename(new PcapFormatError(off, `truncated record header (${rh.length} of ${RECORD_HEADER_LEN} bytes)`));
      const dv = new DataView(rh.buffer, rh.byteOffset, rh.byteLength);
      const inclLen = dv.getUint32(8, le);
      if (inclLen > maxLen) throw rename(new PcapFormatError(off + 8, `record length ${inclLen} exceeds the maximum ${maxLen}`));
      const data = await readAt(off + RECORD_HEADER_LEN, inclLen);
      if (data.length < inclLen) {
        throw rename(new PcapFormatError(off + RECORD_HEADER_LEN, `truncated record data (${data.length} of ${inclLen} bytes)`));
      }
      const frac = dv.getUint32(4, le);
      yield {
        header,
        ts: { sec: dv.getUint32(0, le), nsec: header.nanosecond ? frac : frac * 1000 },
        linkType: header.linkType,
        data,
        origLen: dv.getUint32(12, le),
      };
      off += RECORD_HEADER_LEN + inclLen;
    }
  } finally {
    await fh.close();
  }
}
