/**
 * The page and everything it loads, served by the console itself so that it works offline: the
 * HTML and stylesheet from console/page, the page's modules as tsc compiled them, and Preact and
 * htm straight from node_modules, named by an import map (no bundler, no CDN). Every file is read
 * once at start into a fixed table: no request can name a path outside it.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export interface Asset {
  readonly contentType: string;
  readonly body: Buffer | string;
}

/** Bare specifiers the page imports, and the package entry each resolves to. */
const vendorModules = {
  preact: 'preact',
  'preact/hooks': 'preact/hooks',
  htm: 'htm',
} as const;

const vendorPath = (specifier: string): string => `/vendor/${specifier.replace('/', '-')}.mjs`;

/** console/ (this file runs from console/dist/). */
const packageRoot = new URL('../', import.meta.url);

const contentTypes: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

export interface PageAssets {
  readonly assets: ReadonlyMap<string, Asset>;
  /** Content-Security-Policy for the page: scripts from the console only, plus the one inline import map, by its hash. */
  readonly contentSecurityPolicy: string;
}

export async function loadPageAssets(): Promise<PageAssets> {
  const assets = new Map<string, Asset>();
  const imports: Record<string, string> = {};
  for (const [specifier, entry] of Object.entries(vendorModules)) {
    const file = fileURLToPath(import.meta.resolve(entry));
    imports[specifier] = vendorPath(specifier);
    assets.set(vendorPath(specifier), { contentType: contentTypes['.mjs']!, body: await readFile(file) });
  }

  const compiled = new URL('dist/page/', packageRoot);
  let files: string[];
  try {
    files = (await readdir(compiled)).filter((name) => /^[a-z0-9-]+\.js(\.map)?$/.test(name));
  } catch (error) {
    throw new Error(`the console page is not built (${fileURLToPath(compiled)} is missing): run \`npm run build\``, { cause: error });
  }
  for (const name of files) {
    assets.set(`/page/${name}`, { contentType: contentTypes[name.endsWith('.map') ? '.map' : '.js']!, body: await readFile(new URL(name, compiled)) });
  }
  assets.set('/style.css', { contentType: contentTypes['.css']!, body: await readFile(new URL('page/style.css', packageRoot)) });

  const importMap = JSON.stringify({ imports });
  const template = await readFile(new URL('page/index.html', packageRoot), 'utf8');
  if (!template.includes('<!-- import map -->')) throw new Error('console/page/index.html lost its `<!-- import map -->` placeholder');
  assets.set('/', { contentType: contentTypes['.html']!, body: template.replace('<!-- import map -->', `<script type="importmap">${importMap}</script>`) });

  const importMapHash = createHash('sha256').update(importMap).digest('base64');
  const contentSecurityPolicy = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${importMapHash}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { assets, contentSecurityPolicy };
}
