// Typed wrapper around the weft_io N-API addon (build/Release/weft_io.node, built by
// `node host/native/build.mjs`). Only host/io/linux uses it directly; everything else goes
// through the interfaces in host/io.
//
// Batch calls share one contract (see src/common.h): packets move between an fd and slots of ONE
// memory (a Wasm memory's buffer or a view over it). Slot i is [offsets[i], offsets[i] + room)
// where room is `capacity` (number or per-slot Uint32Array) on receive and lengths[i] on send.
// EAGAIN ends a call early (fewer packets returned) and is not an error; per-packet errors drop
// the packet and count it in `stats`; fd errors throw an Error with code/errno/syscall.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { packageRoot } from "../package-root.ts";

export type Mem = ArrayBuffer | ArrayBufferView;
export type Capacity = number | Uint32Array;

/** An instance of the AOT-compiled data plane (aotCreate). */
export type AotHandle = { readonly __aot: unique symbol };

export interface NativeIo {
  readonly ABI: number;
  readonly STAT: Readonly<Record<"PACKETS" | "BYTES" | "CALLS" | "WOULD_BLOCK" | "ERRORS" | "LAST_ERRNO" | "TRUNCATED" | "SYSCALLS" | "KERNEL_DROPS" | "GSO_SENDS" | "GSO_SEGMENTS" | "GSO_FALLBACKS" | "GRO_DATAGRAMS" | "GRO_SEGMENTS" | "GRO_IN_PLACE" | "COUNT", number>>;
  readonly READABLE: number;
  readonly WRITABLE: number;
  readonly RECV: { readonly V6_ZERO_CSUM: number; readonly ONE_BY_ONE: number };
  readonly SEND: { readonly ONE_BY_ONE: number; readonly FORCE_GSO_REFUSAL: number };
  /** Bytes of the UDP GRO receive state recvBatch takes (one per socket; zeroed when new). */
  readonly GRO_STATE_BYTES: number;
  readonly TUN_F: Readonly<Record<string, number>>;

  /** Opens /dev/net/tun (non-blocking, IFF_NO_PI, persist off) in `netns` if given. */
  openTun(name: string, tap: boolean, vnetHdr: boolean, multiQueue: boolean, netns?: string): { fd: number; name: string };
  tunSetOffload(fd: number, flags: number): void;
  /** False when the TUN/TAP fd's device is gone (deleted under us: TUNGETIFF gives EBADFD). */
  tunAttached(fd: number): boolean;
  tunSetVnetHdrSize(fd: number, size: number): void;
  /** An AF_PACKET SOCK_RAW socket bound to `ifname` (all protocols, outgoing frames ignored). */
  openPacket(ifname: string, rcvbuf: number, netns?: string): { fd: number; ifindex: number };
  closeFd(fd: number): void;

  /** An epoll set for a batch loop that blocks in one call (src/epoll.cc); close with closeFd. */
  epollCreate(): number;
  /** Watches `fd` for readable (level-triggered); epollWait reports `token`. */
  epollAdd(epfd: number, fd: number, token: number): void;
  /** Stops watching `fd` (already gone: no error). */
  epollDel(epfd: number, fd: number): void;
  /** Blocks up to `timeoutMs` (after polling for `spinUs` without blocking); tokens of ready fds in out[0..n). */
  epollWait(epfd: number, out: Uint32Array, timeoutMs: number, spinUs: number): number;
  /**
   * The native batch loop (src/engine.cc, datapath.loop "native"): an epoll set plus the ports'
   * batch calls, run by engineStep. `flush` is the flush list (the loop header in Wasm memory,
   * layout in assembly/loop.ts and engine.cc).
   */
  engineCreate(wakeFd: number, flush: Uint32Array, spinUs?: number): NativeEngine;
  /** Watches `fds` as port `port`; its reads and writes are the batch calls given (start and count patched). */
  engineAddPort(e: NativeEngine, port: number, fds: number[], reads: NativeCall[], writes: [NativeCall | null, NativeCall | null],
    readCount: number, reread: boolean, groWords: Uint32Array[]): void;
  engineRemovePort(e: NativeEngine, port: number): void;
  /** Makes the queued writes, then reads the next batch (waiting up to timeoutMs): 0 idle, 1 packets (header words 2, 3), 2 control. */
  engineStep(e: NativeEngine, timeoutMs: number): 0 | 1 | 2;
  engineFlush(e: NativeEngine): void;
  /**
   * The whole loop in native code (datapath.runtime "wasm2c", docs/AOT.md): steps, and runs each
   * batch through the AOT instance's loopBatch itself, until a control wake-up (2), a wait that
   * timed out (0), or a coalesced write the kernel refused (1: header word 4 set for JS to act on).
   * A trap in the module throws.
   */
  engineRun(e: NativeEngine, aot: AotHandle, timeoutMs: number): 0 | 1 | 2;
  /**
   * [epoll waits, wake-ups with something ready, control wake-ups, batches read, packets written,
   * TX packets dropped, coalesced frames written, coalesced writes refused, reads that failed (their
   * fds are no longer watched), spin hits (the spin before a sleep found something: the sleep and
   * its wake-up saved), sleeps (blocking waits)].
   */
  engineStats(e: NativeEngine): [number, number, number, number, number, number, number, number, number, number, number];
  engineClose(e: NativeEngine): void;
  /** True when the addon was built with the AOT data plane (docs/AOT.md); else aotMissing says why. */
  readonly aotAvailable: boolean;
  readonly aotMissing?: string;
  /** A new instance of the AOT-compiled data-plane module (its own memory and globals). */
  aotCreate(): AotHandle;
  /** The module's exported functions in aotCall's index order: [name, arity, returnsValue]. */
  aotExports(): [string, number, boolean][];
  /** Calls export `index` with i32 arguments; its i32 result (signed) or undefined. A trap throws. */
  aotCall(h: AotHandle, index: number, ...args: number[]): number | undefined;
  /** An ArrayBuffer over the instance's whole memory (stable address; a new buffer after growth). */
  aotMemory(h: AotHandle): ArrayBuffer;
  /** A non-blocking eventfd; close with closeFd. */
  eventfdCreate(): number;
  eventfdSignal(fd: number): void;
  /** Resets the counter; returns what it was (0: not signalled). */
  eventfdDrain(fd: number): number;

  readBatch(fd: number, mem: Mem, offsets: Uint32Array, capacity: Capacity, lengths: Uint32Array, start: number, count: number, stats?: Float64Array): number;
  writeBatch(fd: number, mem: Mem, offsets: Uint32Array, capacity: null, lengths: Uint32Array, start: number, count: number, stats?: Float64Array): number;

  openUdp(family: 4 | 6, address: string, port: number, rcvbuf: number, sndbuf: number, reusePort: boolean, netns?: string): { fd: number; port: number; rcvbuf: number; sndbuf: number };
  openRawSender(family: 4 | 6, sndbuf: number, mark: number, netns?: string): { fd: number; sndbuf: number };
  /**
   * `ovfl` keeps the socket's last SO_RXQ_OVFL value between calls (growth → STAT.KERNEL_DROPS).
   * `groState` (a zeroed, 8-byte aligned Uint8Array of GRO_STATE_BYTES per socket, which has
   * UDP_GRO on): coalesced datagrams are split into one slot per segment; segments that did not
   * fit stay in it for the next call (words 0 and 1 differ while some wait).
   */
  recvBatch(fd: number, mem: Mem, offsets: Uint32Array, capacity: Capacity, lengths: Uint32Array, start: number, count: number, stats: Float64Array | undefined, family: 4 | 6, localPort: number, flags: number, ovfl?: Float64Array, groState?: Uint8Array): number;
  /** `gso`: a gsoOpen id (runs of equal-sized datagrams of one flow go out with UDP_SEGMENT), or -1. */
  sendBatch(fd4: number, fd6: number, mem: Mem, offsets: Uint32Array, capacity: null, lengths: Uint32Array, start: number, count: number, stats: Float64Array | undefined, flags: number, gso?: number): number;
  /** setsockopt(SOL_UDP, UDP_GRO): 0 or the errno. */
  setUdpGro(fd: number, on: boolean): number;
  /** A UDP GSO sender (an LRU of `capacity` send sockets bound per source port), probed with UDP_SEGMENT. */
  gsoOpen(netns: string, sndbuf: number, mark: number, capacity: number): { id: number; probeErrno: number };
  gsoClose(id: number): void;
  gsoInfo(id: number): GsoInfo;

  Poller: new (fd: number, cb: (events: number, status: number) => void) => NativePoller;
}

export interface GsoInfo {
  /** Runs are sent with UDP_SEGMENT (false: probe failed, or the kernel refused GSO at run time). */
  active: boolean;
  /** errno of the start-up probe (0: UDP_SEGMENT accepted). */
  probeErrno: number;
  /** errno of the send that made the sender give up GSO (0: never). */
  disabledErrno: number;
  /** Send sockets open now, opened in total, and source ports that could not be bound. */
  sockets: number;
  socketsOpened: number;
  bindFailures: number;
}

export interface NativePoller {
  /** Watches `events` (READABLE | WRITABLE); 0 stops. Replaces the previous set. */
  start(events: number): void;
  stop(): void;
  close(): void;
}

/** The addon is not built or cannot load on this platform. */
export class NativeUnavailableError extends Error {
  override readonly name = "NativeUnavailableError";
  readonly code = "ERR_WEFT_NATIVE_UNAVAILABLE";
}

/** An engine handle (src/engine.cc). */
export type NativeEngine = { readonly __engine: unique symbol };

/** Batch calls the native loop can make on a port's behalf. */
export const NATIVE_FN = { readBatch: 0, recvBatch: 1, writeBatch: 2, sendBatch: 3 } as const;

/**
 * One batch call with its arguments, exactly as the port's wrapper would pass them; the engine
 * patches `start` and `count` (args[5], args[6]; sendBatch args[6], args[7]).
 */
export interface NativeCall { fn: number; args: unknown[] }

/** The addon file; WEFT_NATIVE_ADDON overrides it (e.g. a sanitizer build). */
export const addonPath = process.env.WEFT_NATIVE_ADDON || `${packageRoot}host/native/build/Release/weft_io.node`;

let cached: NativeIo | undefined;
let loadError: Error | undefined;

/** Loads the addon once; throws NativeUnavailableError with the reason and the build command. */
export function loadNative(): NativeIo {
  if (cached) return cached;
  if (loadError) throw loadError;
  try {
    if (process.platform !== "linux") throw new Error(`platform ${process.platform} is not supported`);
    if (!existsSync(addonPath)) throw new Error(`${addonPath} does not exist`);
    const m = createRequire(import.meta.url)(addonPath) as NativeIo;
    if (m.ABI !== 2) throw new Error(`addon ABI ${m.ABI}, expected 2 (rebuild it)`);
    cached = m;
    return m;
  } catch (e) {
    loadError = new NativeUnavailableError(
      `weft native I/O addon unavailable: ${(e as Error).message}; build it with \`node host/native/build.mjs\``,
      { cause: e },
    );
    throw loadError;
  }
}

export function nativeAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}
