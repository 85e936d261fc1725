// Host I/O: interfaces, fakes and the Linux implementations. See types.ts for the contract.
export type { PacketBatchIO, SlotList, TunDevice, TunKind, Underlay, UdpOffloadState, UdpOffloadStatus } from "./types.ts";
export { IoStats, Stat } from "./stats.ts";
export { IoClosedError, IoError } from "./errors.ts";
export { capacityAt, checkSlots, uniformSlots } from "./slots.ts";
export { createFakeTunPair, FakeTunDevice, type FakeTunOptions } from "./fake/tun.ts";
export { FakeUnderlay, FakeUnderlayNetwork, type FakeUnderlayOptions } from "./fake/underlay.ts";
export { LinuxTunDevice, openTun, type TunOptions } from "./linux/tun.ts";
export { LinuxUnderlay, openUnderlay, type UnderlayOptions } from "./linux/underlay.ts";
export { openPacketSocket, PacketSocket } from "./linux/packet.ts";
export { ip, moveLink, netnsPath } from "./linux/netns.ts";
