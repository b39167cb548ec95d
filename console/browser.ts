/**
 * The real browser the console is tested in: Debian's Chromium, driven by playwright-core. Test
 * support only (playwright-core is a devDependency). A machine without Chromium fails the test
 * with the command that installs it, rather than skipping it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const chromiumPath = '/usr/bin/chromium';

/** Where screenshots go: `artifacts/` at the repository root, ignored by git, kept by CI. */
export const artifactPath = (name: string): string => fileURLToPath(new URL(`../../artifacts/${name}`, import.meta.url));

export async function launchChromium(): Promise<Browser> {
  assert.ok(existsSync(chromiumPath), `the browser test drives Debian's Chromium at ${chromiumPath}, which is missing: run \`apt-get install chromium\``);
  // Without the background-networking switches Chromium keeps calling home, which a closed network refuses.
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  const path = artifactPath(name);
  await mkdir(dirname(path), { recursive: true });
  await page.screenshot({ path, fullPage: true });
  return path;
}
