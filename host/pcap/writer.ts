// Writing classic pcap: microsecond resolution, little-endian, version 2.4.
//
// `PcapWriter` is a streaming writer over a small sink interface. `write()` is synchronous and
// never blocks the caller: bytes are handed to the sink in order; a file sink queues them and
// `close()` resolves once everything is on disk (or rejects with the first I/O error).

import { open, type FileHandle } from "node:fs/promises";
import {
  DEFAULT_SNAPLEN,
  GLOBAL_HEADER_LEN,
  MAGIC_MICROS,
  RECORD_HEADER_LEN,
  type PcapTimestamp,
} from "./format.ts";

/** Where a writer's bytes go. `write` must keep order; `close` flushes. */
export interface PcapSink {
  write(chunk: Uint8Array): void;
  close(): Promise<void>;
}

export interface PcapWriterOptions {
  linkType: number;
  snaplen?: number;
}

export interface PcapWriteRecord {
  ts?: PcapTimestamp;
  data: Uint8Array;
  /** Defaults to data.length. */
  origLen?: number;
}

export function encodeGlobalHeader(linkType: number, snaplen = DEFAULT_SNAPLEN): Uint8Array {
  const out = new Uint8Array(GLOBAL_HEADER_LEN);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC_MICROS, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setInt32(8, 0, true);
  dv.setUint32(12, 0, true);
  dv.setUint32(16, snaplen, true);
  dv.setUint32(20, linkType, true);
  return out;
}

/** One record (header + data, data cut to `snaplen`) as bytes. */
export function encodeRecord(rec: PcapWriteRecord, snaplen = DEFAULT_SNAPLEN): Uint8Array {
  const data = rec.data.length > snaplen ? rec.data.subarray(0, snaplen) : rec.data;
  const out = new Uint8Array(RECORD_HEADER_LEN + data.length);
  const dv = new DataView(out.buffer);
  const ts = rec.ts ?? { sec: 0, nsec: 0 };
  dv.setUint32(0, ts.sec >>> 0, true);
  dv.setUint32(4, Math.floor(ts.nsec / 1000) >>> 0, true);
  dv.setUint32(8, data.length, true);
  dv.setUint32(12, Math.max(rec.origLen ?? rec.data.length, data.length), true);
  out.set(data, RECORD_HEADER_LEN);
  return out;
}

/** A whole pcap file in memory. */
export function encodePcap(linkType: number, records: Iterable<PcapWriteRecord>, snaplen = DEFAULT_SNAPLEN): Uint8Array {
  const parts: Uint8Array[] = [encodeGlobalHeader(linkType, snaplen)];
  for (const r of records) parts.push(encodeRecord(r, snaplen));
  return concat(parts);
}

export class PcapWriter {
  private closed = false;
  readonly snaplen: number;

  constructor(
    private readonly sink: PcapSink,
    readonly options: PcapWriterOptions,
  ) {
    this.snaplen = options.snaplen ?? DEFAULT_SNAPLEN;
    sink.write(encodeGlobalHeader(options.linkType, this.snaplen));
  }

  /** Appends one record. The data are copied before this returns, so the caller may reuse its buffer. */
  write(rec: PcapWriteRecord): void {
    if (this.closed) throw new Error("pcap: write after close");
    this.sink.write(encodeRecord(rec, this.snaplen));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.sink.close();
  }
}

/** Collects everything in memory; `bytes()` returns the file so far. For tests and fakes. */
export class MemoryPcapSink implements PcapSink {
  private parts: Uint8Array[] = [];
  write(chunk: Uint8Array): void {
    this.parts.push(chunk);
  }
  async close(): Promise<void> {}
  bytes(): Uint8Array {
    return concat(this.parts);
  }
}

/** Appends to a file through a serialised queue of writes. */
export class FilePcapSink implements PcapSink {
  private chain: Promise<void>;
  private error: unknown = undefined;

  private constructor(private readonly fh: FileHandle) {
    this.chain = Promise.resolve();
  }

  static async create(path: string): Promise<FilePcapSink> {
    return new FilePcapSink(await open(path, "w"));
  }

  write(chunk: Uint8Array): void {
    if (this.error !== undefined) throw this.error;
    this.chain = this.chain.then(async () => {
      if (this.error !== undefined) return;
      try {
        let done = 0;
        while (done < chunk.length) {
          const { bytesWritten } = await this.fh.write(chunk, done, chunk.length - done);
          done += bytesWritten;
        }
      } catch (e) {
        this.error = e;
      }
    });
  }

  async close(): Promise<void> {
    await this.chain;
    await this.fh.close();
    if (this.error !== undefined) throw this.error;
  }
}

/** Opens `path` for writing a pcap with the given link type. */
export async function createPcapFileWriter(path: string, options: PcapWriterOptions): Promise<PcapWriter> {
  return new PcapWriter(await FilePcapSink.create(path), options);
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
