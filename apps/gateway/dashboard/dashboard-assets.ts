import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The files `npm run build` bundles for the page (scripts/build-web.ts), and their types. */
const ASSETS: Record<string, string> = {
  'dashboard.js': 'text/javascript; charset=utf-8',
  'dashboard.js.map': 'application/json; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
};

/** The project's root: the nearest folder holding a package.json, from source (tests) or from dist/. */
function projectRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) return from;
    dir = up;
  }
  return dir;
}

/**
 * The dashboard page's built files, read once at start: the HTML (told whether the development
 * sign-in is on, in a meta tag, as there is no inline script to tell it) and its script and stylesheet.
 */
export class DashboardAssets {
  readonly html: string;
  private readonly files = new Map<string, { type: string; body: Buffer }>();

  constructor(opts: { devSignIn: boolean; dir?: string }) {
    const dir = opts.dir ?? join(projectRoot(import.meta.dirname), 'dist', 'web', 'dashboard');
    const index = join(dir, 'index.html');
    if (!existsSync(index)) {
      this.html = `<!doctype html><title>Presence dashboard</title><p>The dashboard is not built: run <code>npm run build</code>.</p>`;
      return;
    }
    this.html = readFileSync(index, 'utf8').replace('<meta name="presence-dev-sign-in" content="false">', `<meta name="presence-dev-sign-in" content="${opts.devSignIn}">`);
    for (const [name, type] of Object.entries(ASSETS)) {
      const path = join(dir, name);
      if (existsSync(path)) this.files.set(name, { type, body: readFileSync(path) });
    }
  }

  /** One of the page's assets by file name; anything else is not there (no paths, no other files). */
  asset(name: string): { type: string; body: Buffer } | undefined {
    return this.files.get(name);
  }
}
