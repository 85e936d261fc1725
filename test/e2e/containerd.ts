/**
 * A real container runtime per node for the CNI end-to-end test (test/cni-containerd.test.ts):
 * Debian's containerd 1.6 + runc, driven with `ctr`, networking through the Weft CNI plugin.
 *
 * Design notes
 * - One private containerd per node: its own root, state, sockets and runc root under the node's
 *   work directory, started with `nsenter --net=<node netns>` (only the network namespace
 *   changes; `ip netns exec` would remount /sys and hide the cgroup mounts from runc).
 * - `ctr run --cni` execs the CNI plugins itself, in its own network and mount namespaces, from
 *   the paths it hard-codes: /etc/cni/net.d (first config only), /opt/cni/bin (+ /usr/lib/cni on
 *   Debian), and libcni's cache in /var/lib/cni. No flag or environment variable changes them.
 *   So every `ctr run` of a node starts in that node's netns and in a private mount namespace
 *   (`unshare --mount --propagation private`) where the node's own directories are bind-mounted
 *   over those three paths. Where a path does not exist on the machine, a throwaway overlay over
 *   its parent (upper layer on a tmpfs of that mount namespace) makes the mount point. Nothing
 *   is written to the machine's /etc, /opt or /var/lib; the mounts die with the `ctr` process;
 *   both nodes run at the same time, each seeing only its own network configuration.
 * - `ctr run` stays in the foreground (as a child of the test) for the container's lifetime: it
 *   issues CNI ADD between task create and start (CNI_NETNS=/proc/<pid>/ns/net) and, once the
 *   task dies, CNI DEL (with an empty CNI_NETNS) and, with --rm, deletes the container. With -d
 *   ctr 1.6 never issues DEL. Containers are therefore ended with `ctr task kill -s SIGKILL`.
 * - Cleanup never relies on the happy path: it kills what is left by PID and by command line
 *   (ctr, containerd, shims naming our socket), force-deletes runc state, unmounts what lies under
 *   the work directory, removes the cgroups of our containerd namespace and the directories under
 *   /run/containerd that we created. A run that died before cleaning up leaves a state file that
 *   the next run reads ({@link cleanupStaleRuns}).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync,
  renameSync, rmSync, rmdirSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** Prefix of every work directory of this harness under the temp dir. */
export const RUN_DIR_PREFIX = 'weft-ctrd-';
export const IMAGE_NAME = 'docker.io/weft/busybox:e2e';
const SHIM_RUN_DIR = '/run/containerd';

/** Binaries the harness needs (Debian: containerd, runc, busybox-static, util-linux, iproute2, tar). */
export const REQUIRED_TOOLS = ['containerd', 'ctr', 'containerd-shim-runc-v2', 'runc', 'busybox', 'nsenter', 'unshare', 'ip', 'tar'];

export function missingTools(): string[] {
  return REQUIRED_TOOLS.filter((t) => {
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
}

/** A clean environment for ctr (libcni hands the caller's whole environment to plugins). */
function runtimeEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root' };
}

/** Alive and not a zombie (a killed owner stays a zombie until its parent reaps it). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return false;
  }
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

/** PIDs whose command line contains `needle` (NUL separators read as spaces). */
export function pidsWithCmdline(needle: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'latin1').replace(/\0/g, ' ').includes(needle)) out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitGone(pids: number[], ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!pids.some(pidAlive)) return true;
    await sleep(100);
  }
  return !pids.some(pidAlive);
}

/** Mount points at or below `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4]?.replace(/\\040/g, ' ');
    if (mp && (mp === dir || mp.startsWith(`${dir}/`))) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

function umountUnder(dir: string): void {
  for (const m of mountsUnder(dir)) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}

/** The cgroup directories runc made for containerd namespace `ns` (cgroupsPath /<ns>/<id>), v1 and v2. */
export function cgroupsOf(ns: string): string[] {
  const roots = ['/sys/fs/cgroup', ...safeReaddir('/sys/fs/cgroup').map((e) => join('/sys/fs/cgroup', e))];
  return roots.map((r) => join(r, ns)).filter((d) => existsSync(d));
}

/** Removes {@link cgroupsOf} `ns` (empty once every container process is gone). */
export function removeCgroups(ns: string): void {
  for (const d of cgroupsOf(ns)) {
    try {
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) rmdirSync(join(d, e.name));
      rmdirSync(d);
    } catch {
      // busy (a process is still in it) or already gone
    }
  }
}

// ---------------------------------------------------------------------------------------------
// the run: one work directory, a state file for stale cleanup, /run/containerd bookkeeping
// ---------------------------------------------------------------------------------------------

interface RunState {
  owner: number;
  namespace: string;
  netns: string[];
  createdRunDirs: string[];
  /** `<node dir name>/<container id>` of every container ever started (for its shim socket). */
  containers: string[];
}

/** The work directory of one test run and what must be undone if its owner dies. */
export class ContainerdRun {
  readonly dir: string;
  readonly namespace: string;
  private readonly state: RunState;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), RUN_DIR_PREFIX));
    this.namespace = `weft-e2e-${process.pid.toString(36)}`;
    // The shim's socket directory is hard-coded in containerd 1.6; remember what we create there.
    const created = [SHIM_RUN_DIR, `${SHIM_RUN_DIR}/s`].filter((d) => !existsSync(d));
    this.state = { owner: process.pid, namespace: this.namespace, netns: [], createdRunDirs: created, containers: [] };
    this.save();
  }

  private save(): void {
    writeFileSync(join(this.dir, 'state.tmp'), JSON.stringify(this.state));
    renameSync(join(this.dir, 'state.tmp'), join(this.dir, 'state.json'));
  }

  /** Records network namespaces to delete should this process die before cleaning up. */
  recordNetns(names: string[]): void {
    this.state.netns.push(...names);
    this.save();
  }

  /** Records a container before it is started (its shim socket lies outside the work dir). */
  recordContainer(node: string, id: string): void {
    this.state.containers.push(`${node}/${id}`);
    this.save();
  }

  /** Everything below the work dir, the cgroups, /run/containerd dirs we made. Never throws. */
  cleanup(): void {
    cleanupRunDir(this.dir, this.state, { deleteNetns: false });
  }
}

/** Cleans up runs of this harness whose owner process is dead. */
export function cleanupStaleRuns(): string[] {
  const cleaned: string[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(tmpdir()).filter((e) => e.startsWith(RUN_DIR_PREFIX));
  } catch {
    return cleaned;
  }
  for (const e of entries) {
    const dir = join(tmpdir(), e);
    let st: RunState | undefined;
    try {
      st = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as RunState;
    } catch {
      // no state yet: only its age tells; leave young ones to their owner
      try {
        if (Date.now() - statSync(dir).mtimeMs < 10 * 60_000) continue;
      } catch {
        continue;
      }
    }
    if (st && pidAlive(st.owner)) continue;
    cleanupRunDir(dir, st, { deleteNetns: true });
    cleaned.push(dir);
  }
  return cleaned;
}

function cleanupRunDir(dir: string, st: RunState | undefined, opts: { deleteNetns: boolean }): void {
  // every process of this run names the work dir on its command line (ctr -a, containerd
  // --config, shims -address, our wrapper); ctr and containerd first, then the shims
  const procs = pidsWithCmdline(`${dir}/`);
  for (const p of procs) kill(p, 'SIGKILL');
  for (const node of safeReaddir(dir)) {
    const ids = (st?.containers ?? []).filter((c) => c.startsWith(`${node}/`)).map((c) => c.slice(node.length + 1));
    removeRuncState(join(dir, node), st?.namespace, ids);
  }
  umountUnder(dir);
  if (st) {
    removeCgroups(st.namespace);
    if (opts.deleteNetns) for (const n of st.netns) if (existsSync(`/run/netns/${n}`)) {
      try {
        execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
      } catch {
        // gone
      }
    }
    // deepest first; rmdir fails (and keeps them) if another containerd uses them meanwhile
    for (const d of [...st.createdRunDirs, `${SHIM_RUN_DIR}/fifo`].sort((a, b) => b.length - a.length)) {
      if (d === `${SHIM_RUN_DIR}/fifo` && !st.createdRunDirs.includes(SHIM_RUN_DIR)) continue;
      try {
        rmdirSync(d);
      } catch {
        // not empty or gone
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

function safeReaddir(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

/**
 * Force-deletes the runc containers of a node directory and removes their shim sockets. A shim
 * killed with SIGKILL leaves its socket in /run/containerd/s; containerd 1.6 names it
 * sha256("<containerd socket>/<namespace>/<id>").
 */
function removeRuncState(nodeDir: string, namespace?: string, started: string[] = []): void {
  const runcRoot = join(nodeDir, 'runc');
  const taskRoot = join(nodeDir, 'state', 'io.containerd.runtime.v2.task');
  // a task that failed half way may have lost its state dirs but not its shim socket
  const ids = new Set<string>(namespace ? started.map((id) => `${namespace}/${id}`) : []);
  for (const root of [runcRoot, taskRoot]) for (const ns of safeReaddir(root)) for (const id of safeReaddir(join(root, ns))) ids.add(`${ns}/${id}`);
  for (const key of ids) {
    const [ns, id] = key.split('/') as [string, string];
    if (existsSync(join(runcRoot, ns, id))) {
      try {
        execFileSync('runc', ['--root', join(runcRoot, ns), 'delete', '-f', id], { stdio: 'ignore', timeout: 10_000 });
      } catch {
        // gone
      }
    }
    const hash = createHash('sha256').update(`${join(nodeDir, 'containerd.sock')}/${ns}/${id}`).digest('hex');
    rmSync(`${SHIM_RUN_DIR}/s/${hash}`, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// the busybox image (OCI layout built offline from busybox-static)
// ---------------------------------------------------------------------------------------------

function sha256File(path: string): { digest: string; size: number } {
  const b = readFileSync(path);
  return { digest: createHash('sha256').update(b).digest('hex'), size: b.length };
}

const TAR_DETERMINISTIC = ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner'];

/**
 * Builds an OCI image archive of busybox-static (one uncompressed layer, so its digest is its
 * diff_id) under `dir`; `ctr images import` reads it. Deterministic: same bytes every run.
 */
export function buildBusyboxImage(dir: string, name = IMAGE_NAME): string {
  const rootfs = join(dir, 'rootfs');
  const blobs = join(dir, 'oci', 'blobs', 'sha256');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'run', 'var']) mkdirSync(join(rootfs, d), { recursive: true });
  mkdirSync(blobs, { recursive: true });
  copyFileSync(execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim(), join(rootfs, 'bin/busybox'));
  execFileSync('chmod', ['0755', join(rootfs, 'bin/busybox')]);
  execFileSync('chmod', ['1777', join(rootfs, 'tmp')]);
  for (const applet of execFileSync(join(rootfs, 'bin/busybox'), ['--list'], { encoding: 'utf8' }).split('\n')) {
    if (applet && applet !== 'busybox') symlinkSync('busybox', join(rootfs, 'bin', applet));
  }
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\n');

  const blob = (file: string) => {
    const { digest, size } = sha256File(file);
    renameSync(file, join(blobs, digest));
    return { digest: `sha256:${digest}`, size };
  };
  const layerTar = join(dir, 'layer.tar');
  execFileSync('tar', [...TAR_DETERMINISTIC, '-C', rootfs, '-cf', layerTar, '.']);
  const layer = blob(layerTar);
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({
    architecture: 'amd64', os: 'linux',
    config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
  }));
  const config = blob(configFile);
  const manifestFile = join(dir, 'manifest.json');
  writeFileSync(manifestFile, JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  }));
  const manifest = blob(manifestFile);
  writeFileSync(join(dir, 'oci', 'index.json'), JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest,
      platform: { architecture: 'amd64', os: 'linux' },
      annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': 'e2e' },
    }],
  }));
  writeFileSync(join(dir, 'oci', 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const archive = join(dir, 'busybox-oci.tar');
  execFileSync('tar', [...TAR_DETERMINISTIC, '-C', join(dir, 'oci'), '-cf', archive, 'oci-layout', 'index.json', 'blobs']);
  rmSync(rootfs, { recursive: true, force: true });
  return archive;
}

// ---------------------------------------------------------------------------------------------
// one node's containerd
// ---------------------------------------------------------------------------------------------

export interface ContainerdNodeSpec {
  /** Short node name (directory name). */
  name: string;
  /** The node's network namespace (name under /var/run/netns). */
  netns: string;
  /** Containerd namespace (also the cgroup parent of the containers). */
  namespace: string;
  /** The run: parent of the node's work directory, and the record for stale cleanup. */
  run: ContainerdRun;
  /** The one network configuration this node's ctr sees in /etc/cni/net.d. */
  cniConfList: { name: string; cniVersion: string; plugins: Record<string, unknown>[] };
  /** Directory whose executables this node's ctr sees in /opt/cni/bin. */
  cniBinDir: string;
}

interface Container {
  id: string;
  proc: ChildProcess;
  exited: Promise<number | null>;
  log: string;
}

export class ContainerdNode {
  readonly spec: ContainerdNodeSpec;
  readonly dir: string;
  readonly socket: string;
  /** Where libcni keeps its result cache for this node (seen by ctr as /var/lib/cni). */
  readonly libcniDir: string;
  readonly confFile: string;
  private proc?: ChildProcess;
  private readonly containers = new Map<string, Container>();
  private readonly started: string[] = [];
  private execSeq = 0;

  private constructor(spec: ContainerdNodeSpec) {
    this.spec = spec;
    this.dir = join(spec.run.dir, spec.name);
    this.socket = join(this.dir, 'containerd.sock');
    this.libcniDir = join(this.dir, 'var-lib-cni');
    this.confFile = join(this.dir, 'net.d', `10-${spec.cniConfList.name}.conflist`);
  }

  /** Writes the node's files, starts containerd in the node netns and waits until it answers. */
  static async start(spec: ContainerdNodeSpec, timeoutMs = 30_000): Promise<ContainerdNode> {
    const n = new ContainerdNode(spec);
    await n.boot(timeoutMs);
    return n;
  }

  private async boot(timeoutMs: number): Promise<void> {
    const d = this.dir;
    for (const sub of ['root', 'state', 'opt', 'runc', 'fifo', 'net.d', 'mnt', 'var-lib-cni']) mkdirSync(join(d, sub), { recursive: true });
    writeFileSync(this.confFile, JSON.stringify(this.spec.cniConfList, null, 2));
    writeFileSync(join(d, 'config.toml'), [
      'version = 2',
      `root = "${d}/root"`,
      `state = "${d}/state"`,
      // ctr needs none of these; fewer plugins start faster and touch nothing outside `root`
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]',
      '[grpc]', `  address = "${this.socket}"`,
      '[ttrpc]', `  address = "${this.socket}.ttrpc"`,
      '[debug]', '  address = ""',
      '[metrics]', '  address = ""',
      '[plugins."io.containerd.internal.v1.opt"]', `  path = "${d}/opt"`,
      '',
    ].join('\n'));
    writeFileSync(join(d, 'with-cni-dirs.sh'), this.wrapperScript(), { mode: 0o755 });
    const log = openSync(join(d, 'containerd.log'), 'a');
    try {
      // detached: own session, so a signal to the test's process group does not reach it first
      this.proc = spawn('nsenter', [`--net=/var/run/netns/${this.spec.netns}`, 'containerd', '--config', join(d, 'config.toml')], {
        detached: true, stdio: ['ignore', log, log], env: runtimeEnv(),
      });
    } finally {
      closeSync(log);
    }
    this.proc.unref();
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.ctr(['version'], 5_000);
        return;
      } catch (e) {
        if (this.proc.exitCode !== null || Date.now() > end) {
          throw new Error(`containerd of ${this.spec.name} did not come up: ${(e as Error).message}\n${this.tail('containerd.log')}`);
        }
        await sleep(150);
      }
    }
  }

  /**
   * The command wrapper for `ctr run`: inside a private mount namespace, put this node's CNI
   * directories on the paths ctr hard-codes, then exec the command.
   */
  private wrapperScript(): string {
    const d = this.dir;
    return `#!/bin/sh
# Run by: nsenter --net=<node> unshare --mount --propagation private THIS ctr ...
# Every mount made here belongs to this private mount namespace and dies with the command.
set -eu
scratch=$(mktemp -d "${d}/mnt/XXXXXX")
mount -t tmpfs -o mode=0700 weft-scratch "$scratch"
# mount_point PATH PARENT: make PATH exist; when missing, overlay PARENT (upper on the tmpfs)
mount_point() {
  [ -d "$1" ] && return 0
  key=$(printf %s "$2" | tr / _)
  mkdir -p "$scratch/$key.upper" "$scratch/$key.work"
  mount -t overlay weft-overlay -o "lowerdir=$2,upperdir=$scratch/$key.upper,workdir=$scratch/$key.work" "$2"
  mkdir -p "$1"
}
mount_point /etc/cni/net.d /etc
mount_point /opt/cni/bin /opt
mount_point /var/lib/cni /var/lib
mount --bind "${d}/net.d" /etc/cni/net.d
mount --bind "${this.spec.cniBinDir}" /opt/cni/bin
mount --bind "${this.libcniDir}" /var/lib/cni
exec "$@"
`;
  }

  private ctrArgs(): string[] {
    return ['-a', this.socket, '-n', this.spec.namespace];
  }

  /** Runs `ctr <args>` (no CNI involved) and resolves with its stdout. */
  async ctr(args: string[], timeoutMs = 30_000): Promise<string> {
    const r = await execFileP('ctr', [...this.ctrArgs(), ...args], { encoding: 'utf8', timeout: timeoutMs, env: runtimeEnv() });
    return r.stdout;
  }

  async importImage(archive: string): Promise<void> {
    await this.ctr(['images', 'import', archive], 60_000);
    const names = (await this.ctr(['images', 'ls', '-q'])).split('\n');
    if (!names.includes(IMAGE_NAME)) throw new Error(`image ${IMAGE_NAME} missing after import on ${this.spec.name}: ${names.join(' ')}`);
  }

  /** The CNI container ID ctr passes to plugins: `<containerd namespace>-<container id>`. */
  cniContainerId(id: string): string {
    return `${this.spec.namespace}-${id}`;
  }

  /**
   * Starts container `id` running `sleep` with `ctr run --rm --cni` in the foreground of a child
   * process (see the design notes); wait for it with {@link waitRunning}.
   */
  run(id: string): void {
    this.spec.run.recordContainer(this.spec.name, id);
    this.started.push(id);
    const logPath = join(this.dir, `ctr-run-${id}.log`);
    const log = openSync(logPath, 'a');
    let proc: ChildProcess;
    try {
      proc = spawn('nsenter', [
        `--net=/var/run/netns/${this.spec.netns}`, 'unshare', '--mount', '--propagation', 'private', join(this.dir, 'with-cni-dirs.sh'),
        'ctr', ...this.ctrArgs(), 'run', '--rm', '--cni', '--fifo-dir', join(this.dir, 'fifo'), '--runc-root', join(this.dir, 'runc'),
        IMAGE_NAME, id, 'sleep', '3600',
      ], { stdio: ['ignore', log, log], env: runtimeEnv() });
    } finally {
      closeSync(log);
    }
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    proc.on('error', () => undefined);
    this.containers.set(id, { id, proc, exited, log: logPath });
  }

  /** Task PIDs by container id, of tasks in RUNNING state. */
  async runningTasks(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const line of (await this.ctr(['tasks', 'ls'])).split('\n').slice(1)) {
      const [id, pid, status] = line.trim().split(/\s+/);
      if (id && status === 'RUNNING') out.set(id, Number(pid));
    }
    return out;
  }

  /** Waits until every started container runs; fails early (with ctr's output) if a `ctr run` exits. */
  async waitRunning(timeoutMs = 60_000): Promise<Map<string, number>> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      for (const c of this.containers.values()) {
        if (c.proc.exitCode !== null || c.proc.signalCode !== null) {
          throw new Error(`ctr run ${c.id} on ${this.spec.name} exited (${c.proc.exitCode ?? c.proc.signalCode}) before running (CNI ADD failed?):\n${this.tail(c.log, true)}`);
        }
      }
      const tasks = await this.runningTasks();
      if ([...this.containers.keys()].every((id) => tasks.has(id))) return tasks;
      if (Date.now() > end) throw new Error(`containers of ${this.spec.name} not running after ${timeoutMs} ms: ${[...tasks.keys()].join(' ')}`);
      await sleep(150);
    }
  }

  /** `ctr task exec` in container `id`; resolves with exit code and output, never rejects on a non-zero exit. */
  async exec(id: string, argv: string[], timeoutMs = 20_000): Promise<{ code: number; out: string }> {
    const execId = `e${++this.execSeq}`;
    try {
      const r = await execFileP('ctr', [...this.ctrArgs(), 'tasks', 'exec', '--fifo-dir', join(this.dir, 'fifo'), '--exec-id', execId, id, ...argv], {
        encoding: 'utf8', timeout: timeoutMs, env: runtimeEnv(),
      });
      return { code: 0, out: r.stdout + r.stderr };
    } catch (e) {
      const x = e as { code?: number | string; stdout?: string; stderr?: string; message: string };
      return { code: typeof x.code === 'number' ? x.code : -1, out: `${x.stdout ?? ''}${x.stderr ?? ''}${typeof x.code === 'number' ? '' : x.message}` };
    }
  }

  /**
   * Kills every task with SIGKILL and waits for the foreground `ctr run` processes to finish:
   * they issue CNI DEL and delete their containers. Resolves with each one's exit code and log.
   */
  async killAll(timeoutMs = 30_000): Promise<{ id: string; code: number | null; log: string }[]> {
    await Promise.all([...this.containers.keys()].map((id) => this.ctr(['tasks', 'kill', '-s', 'SIGKILL', id], 10_000).catch(() => '')));
    const out: { id: string; code: number | null; log: string }[] = [];
    for (const c of this.containers.values()) {
      const code = await Promise.race([c.exited, sleep(timeoutMs).then(() => undefined)]);
      if (code === undefined) throw new Error(`ctr run ${c.id} on ${this.spec.name} still running ${timeoutMs} ms after SIGKILL of its task`);
      out.push({ id: c.id, code, log: this.tail(c.log, true) });
    }
    this.containers.clear();
    return out;
  }

  private tail(file: string, absolute = false): string {
    try {
      return readFileSync(absolute ? file : join(this.dir, file), 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '';
    }
  }

  /**
   * Stops everything of this node, whatever state it is in: containers (SIGKILL, ctr's DEL
   * given a moment), containerd (SIGTERM, then SIGKILL), leftover shims and runc state, mounts.
   * Never throws. The work directory itself is removed by {@link ContainerdRun.cleanup}.
   */
  async stop(): Promise<void> {
    try {
      if (this.containers.size) await this.killAll(10_000);
    } catch {
      // force below
    }
    for (const c of this.containers.values()) if (c.proc.pid) kill(c.proc.pid, 'SIGKILL');
    this.containers.clear();
    const pid = this.proc?.pid;
    if (pid && this.proc!.exitCode === null) {
      kill(pid, 'SIGTERM');
      if (!(await waitGone([pid], 10_000))) kill(pid, 'SIGKILL');
    }
    // shims outlive containerd; ours carry `-address <our socket>`
    const shims = pidsWithCmdline(`-address ${this.socket}`);
    for (const p of shims) kill(p, 'SIGKILL');
    await waitGone(shims, 5_000);
    removeRuncState(this.dir, this.spec.namespace, this.started);
    umountUnder(this.dir);
  }
}

/** libcni's cached ADD result of one attachment (ctr wrote it to this node's /var/lib/cni). */
export function cachedResult(node: ContainerdNode, id: string, ifName = 'eth0'): { result: any; config: any } | undefined {
  const f = join(node.libcniDir, 'results', `${node.spec.cniConfList.name}-${node.cniContainerId(id)}-${ifName}`);
  if (!existsSync(f)) return undefined;
  const c = JSON.parse(readFileSync(f, 'utf8'));
  return { result: c.result, config: JSON.parse(Buffer.from(c.config, 'base64').toString('utf8')) };
}

/** Files below `dir` (relative), e.g. leases left in an IPAM directory. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of safeReaddir(d)) {
      const p = join(d, e);
      let isDir: boolean;
      try {
        isDir = lstatSync(p).isDirectory(); // a lease is a symlink naming its owner: a file here
      } catch {
        continue;
      }
      if (isDir) walk(p, join(rel, e));
      else out.push(join(rel, e));
    }
  };
  walk(dir, '');
  return out;
}
