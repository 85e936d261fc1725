// The pod table: one record per pod port (port = PORT_POD_BASE + index). A pod's /32 and /128
// routes are added and removed together with its record, so a pod is either fully attached or
// not at all.

import {
  PORT_POD_BASE, POD_RECORD_SIZE, POD_MAC, POD_FLAGS, POD_IPV4, POD_IPV6, POD_ATTACHED, POD_HAS_IPV4,
  POD_HAS_IPV6, ERR_BAD_ARGUMENT, ERR_NOT_FOUND, TARGET_POD, TARGET_KIND_SHIFT,
} from "../abi";
import { maxPods, podTableBase } from "../state";
import { routeInsert4, routeDelete4, routeInsert6, routeDelete6 } from "./routes";

/** Record of the pod on `port`, or 0 when the port is not a pod port. */
@inline export function podRecord(port: i32): usize {
  const idx = port - <i32>PORT_POD_BASE;
  if (<u32>idx >= <u32>maxPods) return 0;
  return podTableBase + <usize>(idx * POD_RECORD_SIZE);
}
@inline export function podAttached(rec: usize): bool { return (load<u32>(rec, POD_FLAGS) & POD_ATTACHED) != 0; }
@inline export function podFlags(rec: usize): u32 { return load<u32>(rec, POD_FLAGS); }
@inline export function podMac(rec: usize): usize { return rec + POD_MAC; }
@inline export function podIpv4(rec: usize): u32 { return load<u32>(rec, POD_IPV4); }
@inline export function podIpv6(rec: usize): usize { return rec + POD_IPV6; }

/**
 * Attaches (or replaces) the pod on `port` from the record at `src`, installing its host routes.
 * On failure the pod is left detached and a negative error returned. Address uniqueness across
 * pods is the control plane's job (host/), which knows the IPAM.
 */
export function podSet(port: i32, src: usize): i32 {
  const rec = podRecord(port);
  if (rec == 0) return ERR_BAD_ARGUMENT;
  const flags = load<u32>(src, POD_FLAGS) & (POD_HAS_IPV4 | POD_HAS_IPV6);
  if (flags == 0) return ERR_BAD_ARGUMENT;
  if (load<u8>(src, POD_MAC) & 1) return ERR_BAD_ARGUMENT; // group MAC
  const target = (TARGET_POD << TARGET_KIND_SHIFT) | <u32>port;
  if (podAttached(rec)) podDel(port);
  if (flags & POD_HAS_IPV4) {
    const r = routeInsert4(load<u32>(src, POD_IPV4), 32, target);
    if (r < 0) return r;
  }
  if (flags & POD_HAS_IPV6) {
    const r = routeInsert6(src + POD_IPV6, 128, target);
    if (r < 0) {
      if (flags & POD_HAS_IPV4) routeDelete4(load<u32>(src, POD_IPV4), 32);
      return r;
    }
  }
  memory.copy(rec, src, <usize>POD_RECORD_SIZE);
  store<u32>(rec, flags | POD_ATTACHED, POD_FLAGS);
  return 0;
}

/** Detaches the pod on `port` and removes its host routes. */
export function podDel(port: i32): i32 {
  const rec = podRecord(port);
  if (rec == 0) return ERR_BAD_ARGUMENT;
  if (!podAttached(rec)) return ERR_NOT_FOUND;
  const flags = podFlags(rec);
  if (flags & POD_HAS_IPV4) routeDelete4(podIpv4(rec), 32);
  if (flags & POD_HAS_IPV6) routeDelete6(podIpv6(rec), 128);
  memory.fill(rec, 0, <usize>POD_RECORD_SIZE);
  return 0;
}
