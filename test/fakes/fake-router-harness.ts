/**
 * Harness for the CNI black-box tests and the CNI benchmark: network namespaces with unique
 * names that are always removed, the plugin built into a temporary directory, and a runner
 * that execs the plugin the way a runtime does (clean environment, config on stdin).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCniPlugin } from '../../host/cni/build.ts';

export const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

export function haveTools(...cmds: string[]): boolean {
  return cmds.every((c) => {
    try {
      execFileSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
}

/** Can this process create network namespaces (root, iproute2, nsenter)? */
export function canUseNetns(): boolean {
  return isRoot() && haveTools('ip', 'nsenter');
}

let uniq = 0;
/** `<prefix><pid base 36>-<counter><random>`: unique, and names the process that made it. */
export function uniqueName(prefix: string): string {
  return `${prefix}${process.pid.toString(36)}-${(uniq++).toString(36)}${Math.floor(Math.random() * 36 ** 2).toString(36)}`;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Network namespaces created through one registry; `removeAll` deletes what is left. */
export class NetnsRegistry {
  private names = new Set<string>();

  constructor(readonly prefix = 'wcn') {}

  create(): { name: string; path: string } {
    const name = uniqueName(this.prefix);
    execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
    this.names.add(name);
    return { name, path: `/run/netns/${name}` };
  }

  /** Create many at once (one `ip -batch`). */
  createMany(n: number): { name: string; path: string }[] {
    const out = Array.from({ length: n }, () => uniqueName(this.prefix));
    execFileSync('ip', ['-batch', '-'], { input: out.map((x) => `netns add ${x}`).join('\n') + '\n', stdio: ['pipe', 'pipe', 'pipe'] });
    for (const x of out) this.names.add(x);
    return out.map((name) => ({ name, path: `/run/netns/${name}` }));
  }

  /** Delete namespaces with this prefix left by processes that died before cleaning up. */
  removeStale(): void {
    let names: string[] = [];
    try {
      names = readdirSync('/run/netns');
    } catch {
      return;
    }
    const re = new RegExp(`^${this.prefix}([0-9a-z]+)-`);
    const stale = names.filter((n) => {
      const m = re.exec(n);
      return m !== null && !pidAlive(Number.parseInt(m[1], 36));
    });
    if (stale.length) {
      tryExec('ip', ['-force', '-batch', '-'], stale.map((x) => `netns del ${x}`).join('\n') + '\n');
    }
  }

  remove(name: string): void {
    try {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'pipe' });
    } catch {
      // already gone
    }
    this.names.delete(name);
  }

  removeAll(): void {
    const names = [...this.names];
    this.names.clear();
    if (names.length === 0) return;
    try {
      execFileSync('ip', ['-force', '-batch', '-'], { input: names.map((x) => `netns del ${x}`).join('\n') + '\n', stdio: ['pipe', 'pipe', 'pipe'] });
    } catch {
      for (const x of names) if (existsSync(`/run/netns/${x}`)) this.remove(x);
    }
  }
}

export function tempDir(prefix = 'weft-cni-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

let built: Promise<{ dir: string; plugin: string }> | null = null;
/**
 * Build the plugin once per process into a temporary directory. Callers remove it with
 * {@link removeBuiltPlugin} (in afterAll: test workers do not reliably run 'exit' handlers).
 */
export function builtPlugin(): Promise<{ dir: string; plugin: string }> {
  built ??= (async () => {
    const dir = tempDir('weft-cni-bin-');
    const plugin = await buildCniPlugin(join(dir, 'weft'));
    return { dir, plugin };
  })();
  return built;
}

export async function removeBuiltPlugin(): Promise<void> {
  const b = built;
  built = null;
  if (b) rmSync((await b).dir, { recursive: true, force: true });
}

export interface CniInvocation {
  command: string;
  containerId?: string;
  netns?: string;
  ifName?: string;
  args?: string;
  path?: string;
  /** Extra or overriding environment (undefined values unset a variable). */
  env?: Record<string, string | undefined>;
}

export interface CniRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, or undefined if empty/not JSON. */
  json: any;
  ms: number;
}

/** Minimal environment like a runtime's (PATH only), plus the CNI variables. */
export function cniEnv(inv: CniInvocation): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  env.CNI_COMMAND = inv.command;
  if (inv.containerId !== undefined) env.CNI_CONTAINERID = inv.containerId;
  if (inv.netns !== undefined) env.CNI_NETNS = inv.netns;
  if (inv.ifName !== undefined) env.CNI_IFNAME = inv.ifName;
  if (inv.args !== undefined) env.CNI_ARGS = inv.args;
  env.CNI_PATH = inv.path ?? '/opt/cni/bin';
  for (const [k, v] of Object.entries(inv.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Exec a CNI plugin binary with env and stdin config; resolves when it exits. */
export function runCni(binary: string | string[], inv: CniInvocation, config: unknown): Promise<CniRun> {
  const argv = Array.isArray(binary) ? binary : [binary];
  const stdin = typeof config === 'string' ? config : JSON.stringify(config);
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(argv[0], argv.slice(1), { env: cniEnv(inv), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      let json: any;
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ code: code ?? -1, stdout, stderr, json, ms });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}

/** `ip -j` output of a command run inside a netns. */
export function ipJson(netns: string, ...args: string[]): any[] {
  const out = execFileSync('ip', ['-n', netns, '-j', ...args], { encoding: 'utf8' });
  return out.trim() ? JSON.parse(out) : [];
}

/** Run a shell command, ignoring failures (cleanup paths). */
export function tryExec(cmd: string, args: string[], input?: string): void {
  try {
    execFileSync(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'ignore'], input });
  } catch {
    // best effort
  }
}
