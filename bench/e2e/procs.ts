// The child processes of the benchmark (load generators, servers, routers): every one is bounded in
// time (a deadline here, and `timeout` around the tools inside the namespaces) and remembered, so
// that a failure or Ctrl-C can stop exactly the processes we started, by pid.
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";

export interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

export class ProcessTable {
  private readonly live = new Set<ChildProcess>();

  /** Spawns argv and tracks it until it exits. */
  spawn(argv: string[], stdio: StdioOptions = ["ignore", "pipe", "pipe"]): ChildProcess {
    const p = spawn(argv[0]!, argv.slice(1), { stdio });
    this.live.add(p);
    p.on("exit", () => this.live.delete(p));
    p.on("error", () => this.live.delete(p));
    return p;
  }

  /** Runs argv to completion; after `timeoutMs` it gets SIGTERM, 2 s later SIGKILL. Never rejects. */
  run(argv: string[], timeoutMs: number): Promise<RunResult> {
    return new Promise((resolve) => {
      const p = this.spawn(argv);
      let stdout = "", stderr = "";
      p.stdout!.on("data", (d) => { stdout += d; });
      p.stderr!.on("data", (d) => { stderr += d; });
      const t1 = setTimeout(() => { p.kill("SIGTERM"); }, timeoutMs);
      const t2 = setTimeout(() => { p.kill("SIGKILL"); }, timeoutMs + 2000);
      p.on("error", (e) => { clearTimeout(t1); clearTimeout(t2); resolve({ code: -1, signal: null, stdout, stderr: stderr + String(e) }); });
      p.on("close", (code, signal) => { clearTimeout(t1); clearTimeout(t2); resolve({ code, signal, stdout, stderr }); });
    });
  }

  /** Sends `signal` to every process still running that we started. */
  signalAll(signal: NodeJS.Signals = "SIGTERM"): void {
    for (const p of this.live) { try { p.kill(signal); } catch { /* gone */ } }
  }

  get count(): number { return this.live.size; }

  /** Stops every tracked process: SIGTERM, then SIGKILL for what is left after `graceMs`. */
  async stopAll(graceMs = 3000): Promise<void> {
    if (this.live.size === 0) return;
    this.signalAll("SIGTERM");
    const deadline = Date.now() + graceMs;
    while (this.live.size && Date.now() < deadline) await sleep(50);
    this.signalAll("SIGKILL");
  }

  /** Last resort from a synchronous exit handler. */
  killAllSync(): void { this.signalAll("SIGKILL"); }
}

/** Waits for a child to exit; resolves its exit code (null after a signal) or "timeout". */
export function waitExit(p: ChildProcess, timeoutMs: number): Promise<number | null | "timeout"> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve("timeout"), timeoutMs);
    p.once("exit", (code) => { clearTimeout(t); resolve(code); });
  });
}

export function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }
