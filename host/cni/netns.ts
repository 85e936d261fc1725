/**
 * Read an interface's state inside a network namespace (for CNI CHECK).
 *
 * Node cannot setns(2), so this runs `nsenter --net=<path> ip -j -batch -` once per family
 * (in parallel): the batch lists the interface with its addresses, the main routing table, and
 * the link (for the MAC; iproute2 6.1 omits it from `addr show` inside a batch).
 * Needs `nsenter` (util-linux) and `ip` (iproute2) on the node.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface NetnsAddr {
  family: 4 | 6;
  local: string;
  prefixlen: number;
}
export interface NetnsRoute {
  family: 4 | 6;
  /** As printed by ip: `default`, `10.1.0.1`, `10.1.0.0/24`. */
  dst: string;
  gateway?: string;
  dev?: string;
}
export interface LinkState {
  name: string;
  mac?: string;
  mtu?: number;
  up: boolean;
  addrs: NetnsAddr[];
  routes: NetnsRoute[];
}

export class NetnsMissing extends Error {
  override name = 'NetnsMissing';
}

const SEARCH = ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/local/sbin'];

function which(cmd: string, pathEnv: string | undefined): string {
  for (const dir of [...(pathEnv ?? '').split(':').filter(Boolean), ...SEARCH]) {
    if (existsSync(`${dir}/${cmd}`)) return `${dir}/${cmd}`;
  }
  return cmd;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], input: string, timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.on('error', () => undefined); // EPIPE when the child exits without reading
    child.stdin.end(input);
  });
}

/**
 * State of `ifName` in the netns at `netnsPath`; null if the interface does not exist.
 * Throws NetnsMissing if the netns path does not exist, Error if the tools fail otherwise.
 */
export async function inspectInterface(netnsPath: string, ifName: string, timeoutMs = 10000): Promise<LinkState | null> {
  if (!existsSync(netnsPath)) throw new NetnsMissing(`netns ${netnsPath} does not exist`);
  const nsenter = which('nsenter', process.env.PATH);
  const ip = which('ip', process.env.PATH);
  const batch = `addr show dev ${ifName}\nroute show table main\nlink show dev ${ifName}\n`;
  const runs = await Promise.all(
    (['-4', '-6'] as const).map((fam) => run(nsenter, [`--net=${netnsPath}`, ip, fam, '-j', '-batch', '-'], batch, timeoutMs)),
  );
  for (const r of runs) {
    if (r.code !== 0) {
      if (/does not exist/.test(r.stderr)) return null;
      throw new Error(`ip in ${netnsPath} failed (${r.code}): ${r.stderr.trim()}`);
    }
  }
  const state: LinkState = { name: ifName, up: false, addrs: [], routes: [] };
  runs.forEach((r, i) => {
    const family = i === 0 ? 4 : 6;
    const docs = r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as unknown[]);
    if (docs.length !== 3) throw new Error(`unexpected ip -batch output in ${netnsPath}: ${r.stdout.slice(0, 200)}`);
    const [addrDoc, routeDoc, linkDoc] = docs as [AddrJson[], RouteJson[], LinkJson[]];
    for (const a of addrDoc[0]?.addr_info ?? []) {
      if (a.local) state.addrs.push({ family, local: a.local, prefixlen: a.prefixlen ?? (family === 4 ? 32 : 128) });
    }
    for (const rt of routeDoc) state.routes.push({ family, dst: rt.dst, gateway: rt.gateway, dev: rt.dev });
    const link = linkDoc[0];
    if (link) {
      if (link.address) state.mac = link.address.toLowerCase();
      if (link.mtu) state.mtu = link.mtu;
      state.up = (link.flags ?? []).includes('UP');
    }
  });
  return state;
}

interface AddrJson {
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}
interface RouteJson {
  dst: string;
  gateway?: string;
  dev?: string;
}
interface LinkJson {
  address?: string;
  mtu?: number;
  flags?: string[];
}
