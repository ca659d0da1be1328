import { readFileSync, writeFileSync } from 'node:fs';

/** Shared by every script: `--help` (or `-h`) anywhere asks for the usage, and nothing else is done. */
export function helpRequested(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/**
 * A checked-in file generated from code: written, or with `check` only compared (exit 1 when it
 * differs, so a test or CI can tell it is stale). `name` is how messages call it (a path from the
 * repository's root), `command` what regenerates it.
 */
export function writeOrCheck(path: string, text: string, check: boolean, name: string, command: string): void {
  if (!check) {
    writeFileSync(path, text);
    process.stdout.write(`wrote ${name} (${text.length} bytes)\n`);
    return;
  }
  let current = '';
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    // Missing: not current.
  }
  if (current !== text) {
    process.stderr.write(`${name} is not current: run ${command}\n`);
    process.exit(1);
  }
  process.stdout.write(`${name} is current\n`);
}
