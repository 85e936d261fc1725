// A small argument parser: `--name value`, `--name=value`, repeated options, boolean flags.
export class UsageError extends Error {
  constructor(message: string) { super(message); this.name = "UsageError"; }
}

export interface ParsedArgs { positional: string[]; options: Map<string, string[]>; flags: Set<string> }

export function parseArgs(argv: string[], flagNames: string[] = []): ParsedArgs {
  const out: ParsedArgs = { positional: [], options: new Map(), flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("-") || a === "-") { out.positional.push(a); continue; }
    let name = a.replace(/^--?/, "");
    let value: string | undefined;
    const eq = name.indexOf("=");
    if (eq >= 0) { value = name.slice(eq + 1); name = name.slice(0, eq); }
    if (flagNames.includes(name) && value === undefined) { out.flags.add(name); continue; }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
    }
    const list = out.options.get(name) ?? [];
    list.push(value);
    out.options.set(name, list);
  }
  return out;
}

export function one(a: ParsedArgs, name: string, required = true): string | undefined {
  const v = a.options.get(name);
  if (!v || v.length === 0) { if (required) throw new UsageError(`--${name} is required`); return undefined; }
  if (v.length > 1) throw new UsageError(`--${name} given ${v.length} times`);
  return v[0];
}
