// Address text <-> bytes for configuration, the control plane and tests (never the data path).
import { isIP } from "node:net";

export type Family = 4 | 6;

export class AddressError extends TypeError {
  constructor(message: string) { super(message); this.name = "AddressError"; }
}

/** The 4 or 16 network-order bytes of an IPv4 or IPv6 address; throws AddressError otherwise. */
export function parseIp(text: string): Uint8Array {
  const fam = isIP(text);
  if (fam === 4) return Uint8Array.from(text.split(".").map(Number));
  if (fam !== 6) throw new AddressError(`not an IP address: ${JSON.stringify(text)}`);
  const out = new Uint8Array(16);
  let s = text.includes("%") ? text.slice(0, text.indexOf("%")) : text;
  let tailV4: Uint8Array | undefined;
  const m = s.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (m) { tailV4 = parseIp(m[1]!); s = s.slice(0, -m[1]!.length) + "0:0"; }
  const [head, tail] = s.includes("::") ? s.split("::") as [string, string] : [s, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  for (let i = 0; i < 8; i++) {
    const g = parseInt(groups[i]!, 16);
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  }
  if (tailV4) out.set(tailV4, 12);
  return out;
}

export function ipFamily(text: string): Family {
  const fam = isIP(text);
  if (fam !== 4 && fam !== 6) throw new AddressError(`not an IP address: ${JSON.stringify(text)}`);
  return fam;
}

/** Canonical text (RFC 5952 for IPv6) of 4 or 16 bytes. */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join(".");
  if (b.length !== 16) throw new AddressError(`address of ${b.length} bytes`);
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(":");
  return hex.slice(0, bestStart).join(":") + "::" + hex.slice(bestStart + bestLen).join(":");
}

export interface Cidr { family: Family; addr: Uint8Array; len: number; text: string }

/** Parses "a.b.c.d/n" or "x::/n"; host bits must be zero unless `allowHostBits`. */
export function parseCidr(text: string, allowHostBits = false): Cidr {
  const slash = text.lastIndexOf("/");
  if (slash < 0) throw new AddressError(`not a CIDR prefix (missing /len): ${JSON.stringify(text)}`);
  const addr = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  const len = Number(lenText);
  const max = addr.length * 8;
  if (!/^\d+$/.test(lenText) || len > max) throw new AddressError(`bad prefix length in ${JSON.stringify(text)}`);
  const masked = maskAddr(addr, len);
  if (!allowHostBits && !masked.every((b, i) => b === addr[i])) {
    throw new AddressError(`${text} has host bits set (did you mean ${formatIp(masked)}/${len}?)`);
  }
  return { family: addr.length === 4 ? 4 : 6, addr: allowHostBits ? addr : masked, len, text: `${formatIp(allowHostBits ? addr : masked)}/${len}` };
}

export function maskAddr(addr: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(addr.length);
  for (let i = 0; i < addr.length; i++) {
    const bits = Math.max(0, Math.min(8, len - i * 8));
    out[i] = addr[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

export function cidrContains(c: Cidr, addr: Uint8Array): boolean {
  if (addr.length !== c.addr.length) return false;
  const m = maskAddr(addr, c.len);
  return m.every((b, i) => b === c.addr[i]);
}

/** "aa:bb:cc:dd:ee:ff" (or with '-') to 6 bytes. */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) throw new AddressError(`not a MAC address: ${JSON.stringify(text)}`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function formatMac(b: Uint8Array): string {
  return Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, "0")).join(":");
}

/** A random locally administered unicast MAC (flannel's VTEP MAC rule: b[0] = (b[0] & 0xfe) | 0x02). */
export function randomMac(rand: (n: number) => Uint8Array): Uint8Array {
  const b = rand(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return b;
}
