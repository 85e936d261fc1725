// In-memory underlay: endpoints attached to one FakeUnderlayNetwork exchange full outer IP
// packets. A packet goes to the endpoint that owns its destination address and listens on its
// UDP destination port, and arrives exactly as the Linux implementation delivers it: outer header
// rebuilt (no IP options or extension headers, IPv4 ID/flags 0, valid IPv4 header checksum, IPv4
// UDP checksum 0, IPv6 UDP checksum recomputed), TTL/hop limit, TOS/traffic class, addresses and
// ports as sent. Sends never block (UDP); receivers drop when their queue is full.
import { parseIp } from "../../net/addr.ts";
import { fold, sum16, udpChecksum } from "../checksum.ts";
import { Stat } from "../stats.ts";
import type { Underlay } from "../types.ts";
import { Delivered, FakePort, type DeliverResult } from "./port.ts";
import { PacketQueue } from "./queue.ts";

const EINVAL = 22;
const EAFNOSUPPORT = 97;
const EMSGSIZE = 90;

export interface FakeUnderlayOptions {
  /** Local IPv4 address (receives packets sent to it); omit for none. */
  ipv4?: string;
  /** Local IPv6 address. */
  ipv6?: string;
  /** UDP port received on. Default 8472. */
  port?: number;
  /** Packets the receive queue holds (a socket buffer). Default 4096. */
  queuePackets?: number;
}

export class FakeUnderlayNetwork {
  readonly endpoints: FakeUnderlay[] = [];
  /** Packets that reached no endpoint: unknown address, wrong port or protocol, malformed. */
  unroutable = 0;
  /** Packets dropped because the receiving endpoint's queue was full. */
  overflow = 0;
  /** Largest packet the network carries (an MTU); larger sends fail with EMSGSIZE. */
  readonly mtu: number;

  constructor(mtu = 65535) {
    this.mtu = mtu;
  }

  attach(opts: FakeUnderlayOptions): FakeUnderlay {
    const u = new FakeUnderlay(this, opts);
    this.endpoints.push(u);
    return u;
  }

  detach(u: FakeUnderlay): void {
    const i = this.endpoints.indexOf(u);
    if (i >= 0) this.endpoints.splice(i, 1);
  }

  /** Routes one packet already checked to be IPv4/IPv6 with a full fixed header. */
  route(p: Uint8Array, off: number, len: number): void {
    const v6 = p[off]! >> 4 === 6;
    let l4: number;
    if (v6) {
      if (p[off + 6] !== 17) return void this.unroutable++;
      l4 = off + 40;
    } else {
      if (p[off + 9] !== 17) return void this.unroutable++;
      l4 = off + (p[off]! & 0x0f) * 4;
    }
    if (l4 + 8 > off + len) return void this.unroutable++;
    const ulen = (p[l4 + 4]! << 8) | p[l4 + 5]!;
    if (ulen < 8 || l4 + ulen > off + len) return void this.unroutable++;  // the kernel drops these
    const dport = (p[l4 + 2]! << 8) | p[l4 + 3]!;
    for (const e of this.endpoints) {
      if (e.closed || e.port !== dport) continue;
      const a = v6 ? e.addr6 : e.addr4;
      if (!a) continue;
      const at = off + (v6 ? 24 : 16);
      let same = true;
      for (let k = 0; k < a.length; k++) if (p[at + k] !== a[k]) { same = false; break; }
      if (!same) continue;
      if (!e.inbound.push(p, off, len)) {
        this.overflow++;
        e.stats.array[Stat.KernelDrops]!++;
      }
      else e.poke();
      return;
    }
    this.unroutable++;
  }

  /** Every endpoint may have room again. */
  wakeAll(): void {
    for (const e of this.endpoints) e.poke();
  }
}

export class FakeUnderlay extends FakePort implements Underlay {
  readonly port: number;
  readonly addr4: Uint8Array | undefined;
  readonly addr6: Uint8Array | undefined;
  private readonly net: FakeUnderlayNetwork;

  constructor(net: FakeUnderlayNetwork, opts: FakeUnderlayOptions) {
    super(new PacketQueue(opts.queuePackets ?? 4096, net.mtu));
    this.net = net;
    this.port = opts.port ?? 8472;
    this.addr4 = opts.ipv4 ? parseIp(opts.ipv4) : undefined;
    this.addr6 = opts.ipv6 ? parseIp(opts.ipv6) : undefined;
    if (this.addr4 && this.addr4.length !== 4) throw new TypeError(`not IPv4: ${opts.ipv4}`);
    if (this.addr6 && this.addr6.length !== 16) throw new TypeError(`not IPv6: ${opts.ipv6}`);
  }

  protected describe(): string {
    return `fake underlay :${this.port}`;
  }

  protected deliver(mem: Uint8Array, offset: number, length: number): DeliverResult {
    const v = length > 0 ? mem[offset]! >> 4 : 0;
    if (v === 4 && length >= 20) {
      if ((mem[offset]! & 0x0f) < 5) return EINVAL;
    } else if (!(v === 6 && length >= 40)) {
      return EINVAL;
    }
    if ((v === 4 && !this.addr4) || (v === 6 && !this.addr6)) return EAFNOSUPPORT;  // no socket of that family
    if (length > this.net.mtu) return EMSGSIZE;
    this.net.route(mem, offset, length);
    return Delivered;
  }

  protected hasRoom(): boolean {
    return true;
  }

  protected roomFreed(): void {}

  protected override copyIn(p: Uint8Array, mem: Uint8Array, o: number, capacity: number): number {
    const v6 = p[0]! >> 4 === 6;
    const l4 = v6 ? 40 : (p[0]! & 0x0f) * 4;
    const ulen = (p[l4 + 4]! << 8) | p[l4 + 5]!;
    const hdr = v6 ? 48 : 28;
    const total = hdr + ulen - 8;
    if (total > capacity) return -1;
    mem.set(p.subarray(l4 + 8, l4 + ulen), o + hdr);
    if (v6) {
      mem.set(p.subarray(0, 40), o);  // version/class/flow, addresses, hop limit as received
      mem[o + 4] = (ulen >> 8) & 0xff;
      mem[o + 5] = ulen & 0xff;
      mem[o + 6] = 17;
    } else {
      mem[o] = 0x45;
      mem[o + 1] = p[1]!;
      mem[o + 2] = total >> 8;
      mem[o + 3] = total & 0xff;
      mem.fill(0, o + 4, o + 8);
      mem[o + 8] = p[8]!;
      mem[o + 9] = 17;
      mem[o + 10] = mem[o + 11] = 0;
      mem.set(p.subarray(12, 20), o + 12);
      const c = fold(sum16(mem, o, o + 20));
      mem[o + 10] = c >> 8;
      mem[o + 11] = c & 0xff;
    }
    const u = o + hdr - 8;
    mem[u] = p[l4]!;
    mem[u + 1] = p[l4 + 1]!;
    mem[u + 2] = p[l4 + 2]!;
    mem[u + 3] = p[l4 + 3]!;
    mem[u + 4] = ulen >> 8;
    mem[u + 5] = ulen & 0xff;
    mem[u + 6] = mem[u + 7] = 0;
    if (v6) {
      const c = udpChecksum(mem, o, u, ulen);
      mem[u + 6] = c >> 8;
      mem[u + 7] = c & 0xff;
    }
    return total;
  }

  override close(): void {
    super.close();
    this.net.detach(this);
  }
}
