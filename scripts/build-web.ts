/**
 * npm run build (after tsc): bundles what runs outside the apps' Node processes with esbuild.
 * - the client SDK (packages/client): ESM and CommonJS, socket.io-client and React left to the
 *   installer, the shared contract code compiled in; its type declarations by tsc;
 * - the dashboard page (apps/gateway/dashboard/web): one script and one stylesheet under
 *   dist/web/dashboard, served by the gateway as static files.
 */
import { build, type Plugin } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { helpRequested } from './cli.js';

const USAGE = `usage: node dist/scripts/build-web.js   (run by npm run build)
  bundles the client SDK into packages/client/dist (ESM, CommonJS, .d.ts) and the dashboard page into dist/web`;

if (helpRequested(process.argv.slice(2))) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const root = resolve(import.meta.dirname, '..', '..');
const client = join(root, 'packages', 'client');

/** The React entry uses the main entry's client, not a second copy of it. */
const mainEntry = (ext: string): Plugin => ({
  name: 'main-entry',
  setup(b) {
    b.onResolve({ filter: /^\.\/client\.js$/ }, () => ({ path: `./index.${ext}`, external: true }));
  },
});

async function buildClient() {
  rmSync(join(client, 'dist'), { recursive: true, force: true });
  const formats = [
    { format: 'esm', ext: 'mjs' },
    { format: 'cjs', ext: 'cjs' },
  ] as const;
  for (const { format, ext } of formats) {
    for (const entry of ['index', 'react']) {
      await build({
        entryPoints: [join(client, 'src', `${entry}.ts`)],
        outfile: join(client, 'dist', `${entry}.${ext}`),
        bundle: true,
        format,
        platform: 'neutral',
        target: 'es2020',
        external: ['socket.io-client', 'react'],
        plugins: entry === 'react' ? [mainEntry(ext)] : [],
        sourcemap: true,
        logLevel: 'warning',
      });
    }
  }
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(client, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (tsc.status !== 0) throw new Error('tsc could not emit the client SDK declarations');
  copyAsCommonJs(join(client, 'dist', 'types'), join(client, 'dist', 'types-cjs'));
}

/**
 * The package is ESM ("type": "module"), so its .d.ts files describe ES modules; a CommonJS project
 * that requires it gets the same declarations as .d.cts, naming the .cjs files.
 */
function copyAsCommonJs(from: string, to: string) {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, entry.name);
    if (entry.isDirectory()) copyAsCommonJs(src, join(to, entry.name));
    else if (entry.name.endsWith('.d.ts')) {
      const text = readFileSync(src, 'utf8').replace(/(from\s+['"]\.{1,2}\/[^'"]*)\.js(['"])/g, '$1.cjs$2');
      writeFileSync(join(to, entry.name.replace(/\.d\.ts$/, '.d.cts')), text);
    }
  }
}

/** The dashboard page: its HTML and stylesheet as they are, its script bundled with the SDK and socket.io-client. */
async function buildDashboard() {
  const src = join(root, 'apps', 'gateway', 'dashboard', 'web');
  const out = join(root, 'dist', 'web', 'dashboard');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: [join(src, 'main.ts')],
    outfile: join(out, 'dashboard.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    sourcemap: true,
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'dashboard.css']) copyFileSync(join(src, file), join(out, file));
}

try {
  await buildClient();
  await buildDashboard();
} catch (err) {
  process.stderr.write(`build-web: ${(err as Error).message}\n`);
  process.exit(1);
}
