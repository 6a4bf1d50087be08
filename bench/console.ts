import { launchChromium } from '../test/helpers/chromium';
import { fmt, median, startProcess, table, type World } from './lib';

/**
 * The admin console's first load in headless Chromium: bytes transferred and the time until the page
 * can be used (its sign-in link shown; signed in, the overview's table filled), each in a fresh
 * browser context (cold cache), beside a static page of the same size from a bare Node server: the
 * floor of moving that many bytes and drawing them.
 */
const BARE = `const body = 'x'.repeat(Number(process.env.BYTES));
require('http').createServer((q, s) => { s.writeHead(200, { 'Content-Type': 'text/html' }); s.end('<!doctype html><title>static</title><p id="ready">' + body.slice(60) + '</p>'); }).listen(Number(process.env.PORT), '127.0.0.1')`;

export async function benchConsole(world: World, runs = 15): Promise<void> {
  const host = await startProcess(
    ['dist/dev/host/cli.js'],
    { ...world.settings, LOCAL_HOST_TRIGGERS: 'http' },
    (p) => `http://127.0.0.1:${p}/api/health`,
  );
  const browser = await launchChromium();
  try {
    const app = `http://127.0.0.1:${host.port}`;
    /** Opens `url` in a fresh context; bytes of every response and ms from navigation start until `ready` shows. */
    const measure = async (url: string, ready: string, prepare?: (page: import('playwright-core').Page) => Promise<void>) => {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      if (prepare) await prepare(page);
      let bytes = 0;
      page.on(
        'response',
        (r) =>
          void r.body().then(
            (b) => (bytes += b.length),
            () => undefined,
          ),
      );
      await page.goto(url);
      await page.locator(ready).first().waitFor();
      const ms = await page.evaluate(() => performance.now());
      await page.waitForLoadState('networkidle');
      await context.close();
      return { ms, bytes };
    };
    const signIn = async (page: import('playwright-core').Page) => {
      await page.goto(`${app}/api/auth/signin?returnTo=/api/console`);
      await page.locator('button[name="user"][value^="megan@"]').click();
      await page.waitForURL(`${app}/api/console`);
      await page.locator('main table').waitFor();
    };
    const sample = async (url: string, ready: string, prepare?: Parameters<typeof measure>[2]) => {
      await measure(url, ready, prepare); // warm-up: the host's first requests, Chromium's own start
      const all = [];
      for (let i = 0; i < runs; i++) all.push(await measure(url, ready, prepare));
      return { ms: median(all.map((s) => s.ms)), bytes: median(all.map((s) => s.bytes)) };
    };
    const cold = await sample(`${app}/api/console`, 'a.button');
    const signedIn = await sample(`${app}/api/console`, 'main table tbody tr', signIn);
    const bare = await startProcess(['-e', BARE], { BYTES: String(Math.round(cold.bytes)) }, (p) => `http://127.0.0.1:${p}/`);
    try {
      const floor = await sample(`http://127.0.0.1:${bare.port}/`, '#ready');
      table(`Admin console first load in headless Chromium, fresh context each time (median of ${runs})`, [
        { page: 'console, signed out (sign-in link shown)', 'KB transferred': fmt(cold.bytes / 1024, 1), 'ms to usable': fmt(cold.ms, 0) },
        {
          page: 'console, signed in (overview table filled)',
          'KB transferred': fmt(signedIn.bytes / 1024, 1),
          'ms to usable': fmt(signedIn.ms, 0),
        },
        {
          page: 'static page of the same size, bare server',
          'KB transferred': fmt(floor.bytes / 1024, 1),
          'ms to usable': fmt(floor.ms, 0),
        },
      ]);
      console.log(
        `ratio (console signed out / static): ${fmt(cold.ms / floor.ms, 2)}× the time for ${fmt(cold.bytes / floor.bytes, 2)}× the bytes.`,
      );
    } finally {
      await bare.stop();
    }
  } finally {
    await browser.close();
    await host.stop();
  }
}
