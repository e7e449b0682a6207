// The browser for the page tests: Chromium from Debian's packages (chromium-headless-shell, which
// `npm test` installs with apt-get when run as root; see ops/bootstrap.mjs), driven by
// playwright-core (no bundled browser download). TICKBUS_CHROMIUM names another executable.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATHS = ['/usr/bin/chromium-headless-shell', '/usr/bin/chromium'] as const;

export function chromiumPath(): string {
  const env = process.env.TICKBUS_CHROMIUM;
  if (env) {
    if (!existsSync(env)) throw new Error(`TICKBUS_CHROMIUM=${env}: no such file`);
    return env;
  }
  const found = CHROMIUM_PATHS.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `no Chromium for the browser tests: looked for ${CHROMIUM_PATHS.join(', ')}. Install it ` +
        '(Debian: `sudo apt-get install -y chromium-headless-shell`; `npm test` as root does it) or set TICKBUS_CHROMIUM.',
    );
  }
  return found;
}

export async function launchChromium(): Promise<Browser> {
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  // Chromium refuses its sandbox as root (CI containers run as root).
  // The browser is the test's instrument, not the system under test: under `faketime` (README,
  // Tests) it runs on the real clock, as a user's browser would beside a skewed server (the page
  // takes its times from the monitor's snapshot). libfaketime in Chromium's processes stalls it.
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'LD_PRELOAD' && !k.startsWith('FAKETIME')) env[k] = v;
  return await chromium.launch({ executablePath: chromiumPath(), headless: true, args: asRoot ? ['--no-sandbox'] : [], env });
}
