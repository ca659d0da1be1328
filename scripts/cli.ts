/** Shared by every script: `--help` (or `-h`) anywhere asks for the usage, and nothing else is done. */
export function helpRequested(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}
