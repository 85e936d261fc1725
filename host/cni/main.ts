/**
 * Process entry of the `weft` CNI plugin (bundled by build.ts into dist/cni/weft).
 *
 * I/O discipline: stdout carries exactly one JSON document (result or error) or nothing; all
 * diagnostics go to stderr. stdin and stdout are used through file descriptors directly:
 * `process.stdin`/`process.stdout` would load stream machinery this short-lived process does
 * not need (startup time is the plugin's main cost).
 */
import { fstatSync, readSync, writeSync } from 'node:fs';
import { runPlugin } from './plugin.ts';

function readStdin(): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.allocUnsafe(65536);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
        continue;
      }
      if (code === 'EOF' || code === 'EBADF' || code === 'EINVAL' || code === 'EISDIR') break;
      throw e;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

function isTerminal(): boolean {
  try {
    return fstatSync(0).isCharacterDevice();
  } catch {
    return false;
  }
}

function writeAll(fd: number, text: string): void {
  if (text === '') return;
  const data = Buffer.from(text);
  let off = 0;
  while (off < data.length) {
    try {
      off += writeSync(fd, data, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    }
  }
}

/** Last resort: whatever escapes still ends as one CNI error document on stdout. */
function die(e: unknown): never {
  const err = { cniVersion: '1.1.0', code: 999, msg: 'internal error', details: (e as Error)?.stack ?? String(e) };
  try {
    writeAll(1, JSON.stringify(err));
  } finally {
    process.exit(1);
  }
}
process.on('uncaughtException', die);
process.on('unhandledRejection', die);

async function main(): Promise<void> {
  if (process.env.WEFT_CNI_TRACE) writeAll(2, `weft-cni trace ${performance.now().toFixed(2)} ms main\n`);
  let stdin: string;
  try {
    // VERSION needs no input: do not wait for EOF on a terminal (someone typing the command)
    const tty = process.env.CNI_COMMAND === 'VERSION' && isTerminal();
    stdin = process.env.CNI_COMMAND && !tty ? readStdin() : '';
  } catch (e) {
    const err = { cniVersion: '1.1.0', code: 5, msg: 'failed to read network configuration from stdin', details: (e as Error).message };
    writeAll(1, JSON.stringify(err));
    process.exit(1);
  }
  const out = await runPlugin(process.env, stdin);
  writeAll(1, out.stdout);
  writeAll(2, out.stderr);
  if (process.env.WEFT_CNI_TRACE) writeAll(2, `weft-cni trace ${performance.now().toFixed(2)} ms exit\n`);
  process.exit(out.exitCode);
}

void main();
