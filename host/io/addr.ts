// IP address text ↔ bytes, for configuration and tests (not for the data path).
import { isIPv4, isIPv6 } from "node:net";

/** 4 or 16 bytes of an IPv4 or IPv6 address in text form; throws TypeError otherwise. */
export function parseIp(text: string): Uint8Array {
  if (isIPv4(text)) return Uint8Array.from(text.split(".").map(Number));
  if (!isIPv6(text)) throw new TypeError(`not an IP address: ${text}`);
  let s = text;
  const out = new Uint8Array(16);
  const v4 = s.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    out.set(parseIp(v4[1]!), 12);
    s = s.slice(0, -v4[1]!.length) + "0:0";
  }
  const [head, tail] = s.includes("::") ? s.split("::") : [s, undefined];
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  for (let i = 0; i < 8; i++) {
    if (v4 && i >= 6) break;
    const g = parseInt(groups[i]!, 16);
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  }
  return out;
}

export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join(".");
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return g.join(":").replace(/(^|:)0(:0)+(:|$)/, "::").replace(/:{3,}/, "::");
}
