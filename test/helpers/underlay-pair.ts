// Two Linux underlays in fresh namespaces joined by a veth pair (static neighbours, IPv4 and
// IPv6), for the compliance and offload tests. Everything is removed by close(), also when
// building fails half-way.
import { openUnderlay, type UnderlayOptions } from "../../host/io/linux/underlay.ts";
import type { UnderlayHarness } from "../../host/io/testing/compliance.ts";
import { NetnsFixture } from "../../host/io/testing/netns.ts";

export interface VethUnderlays extends UnderlayHarness {
  fx: NetnsFixture;
  nsA: { name: string; path: string };
  nsB: { name: string; path: string };
}

export function vethUnderlays(optsA: UnderlayOptions = {}, optsB: UnderlayOptions = {}): VethUnderlays {
  const fx = new NetnsFixture();
  const opened: { close(): void }[] = [];
  try {
    const A = fx.addNetns("a", { ipv6: true });
    const B = fx.addNetns("b", { ipv6: true });
    const va = fx.name("va");
    const vb = fx.name("vb");
    fx.addVeth(va, A.name, vb, B.name);
    fx.ip(["addr", "add", "198.18.0.1/24", "dev", va], A.name);
    fx.ip(["addr", "add", "fd00:7774::1/64", "dev", va, "nodad"], A.name);
    fx.ip(["addr", "add", "198.18.0.2/24", "dev", vb], B.name);
    fx.ip(["addr", "add", "fd00:7774::2/64", "dev", vb, "nodad"], B.name);
    fx.ip(["link", "set", va, "up"], A.name);
    fx.ip(["link", "set", vb, "up"], B.name);
    // Static neighbours: a burst must not wait in (and overflow) an unresolved-neighbour queue.
    const macA = fx.mac(va, A.name);
    const macB = fx.mac(vb, B.name);
    fx.ip(["neigh", "replace", "198.18.0.2", "lladdr", macB, "dev", va, "nud", "permanent"], A.name);
    fx.ip(["neigh", "replace", "fd00:7774::2", "lladdr", macB, "dev", va, "nud", "permanent"], A.name);
    fx.ip(["neigh", "replace", "198.18.0.1", "lladdr", macA, "dev", vb, "nud", "permanent"], B.name);
    fx.ip(["neigh", "replace", "fd00:7774::1", "lladdr", macA, "dev", vb, "nud", "permanent"], B.name);
    const a = openUnderlay({ ...optsA, netns: A.path });
    opened.push(a);
    const b = openUnderlay({ ...optsB, netns: B.path });
    opened.push(b);
    return {
      a, b, a4: "198.18.0.1", b4: "198.18.0.2", a6: "fd00:7774::1", b6: "fd00:7774::2", fx, nsA: A, nsB: B,
      close: () => {
        for (const o of opened) o.close();
        fx.cleanup();
      },
    };
  } catch (e) {
    for (const o of opened) o.close();
    fx.cleanup();
    throw e;
  }
}
