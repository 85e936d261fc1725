/**
 * Build the `weft` CNI plugin executable: one minified CommonJS file with a node shebang,
 * ready to copy into /opt/cni/bin/weft.
 *
 *   node --import tsx host/cni/build.ts [OUTFILE]        (default dist/cni/weft)
 *
 * Why a bundle: the runtime execs the plugin once per container operation, so start-up is the
 * plugin's main cost. One CommonJS file avoids the ESM loader, module resolution and tsx; the
 * plugin's own code adds ~2 ms to Node's start. The shebang unsets NODE_OPTIONS (could inject
 * code that writes to stdout) and NODE_EXTRA_CA_CERTS (Node 20 loads that file at start,
 * ~70 ms here, and the plugin never uses TLS).
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SHEBANG = '#!/usr/bin/env -S -u NODE_OPTIONS -u NODE_EXTRA_CA_CERTS node';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DEFAULT_OUTFILE = resolve(repoRoot, 'dist/cni/weft');

/** Bundle host/cni/main.ts into `outfile` (mode 0755). Returns the path. */
export async function buildCniPlugin(outfile = DEFAULT_OUTFILE): Promise<string> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [resolve(repoRoot, 'host/cni/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minify: true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0].text;
  mkdirSync(dirname(outfile), { recursive: true });
  writeFileSync(outfile, `${SHEBANG}\n${code}`, { mode: 0o755 });
  chmodSync(outfile, 0o755);
  // an extensionless file under our "type": "module" package would be read as ESM: pin CJS
  // there (outside the repository, e.g. /opt/cni/bin, CommonJS is already the default)
  if (resolve(outfile).startsWith(repoRoot + '/')) writeFileSync(resolve(dirname(outfile), 'package.json'), '{"type":"commonjs"}\n');
  return outfile;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await buildCniPlugin(process.argv[2] ? resolve(process.argv[2]) : DEFAULT_OUTFILE);
  process.stdout.write(`built ${out}\n`);
}
