// pcap: read captures (all classic variants), write per-port captures, and strip link layers.
export * from "./format.ts";
export * from "./reader.ts";
export * from "./writer.ts";
export * from "./link.ts";
