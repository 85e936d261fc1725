// Loading the committed vectors. Kept beside them so every test reads them the same way.
import { readFileSync } from "node:fs";

export interface ScapyVector {
  name: string;
  provenance: string;
  /** Where the bytes start: an Ethernet frame or a bare IP packet. */
  link: "ethernet" | "ipv4" | "ipv6";
  hex: string;
  fields: Record<string, Record<string, unknown>>;
}

export const VECTORS_DIR = new URL("./", import.meta.url).pathname;
export const KERNEL_DIR = new URL("./kernel/", import.meta.url).pathname;

export function loadScapyVectors(): ScapyVector[] {
  return JSON.parse(readFileSync(new URL("./scapy.json", import.meta.url), "utf8")) as ScapyVector[];
}

export function scapyVector(name: string): ScapyVector {
  const v = loadScapyVectors().find((x) => x.name === name);
  if (!v) throw new Error(`no scapy vector ${name}`);
  return v;
}

export interface RfcVectors {
  checksum: { name: string; provenance: string; hex: string; sum: string; checksum: string }[];
  incremental: { name: string; provenance: string; otherSum?: string; hc: string; m: string; mNew: string; hcNew: string; hcNewEqn2?: string }[];
}

export function loadRfcVectors(): RfcVectors {
  return JSON.parse(readFileSync(new URL("./rfc.json", import.meta.url), "utf8")) as RfcVectors;
}
