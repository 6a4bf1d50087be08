import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { azuriteConnectionString } from './settings';

/**
 * Azurite in a child process, in memory, on explicit ports. Started with node directly (not npx),
 * so stopping it stops the server.
 */
export interface Azurite {
  connectionString: string;
  ports: { blob: number; queue: number; table: number };
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Azurite exited with code ${child.exitCode} before it listened on ${port}.`);
    const ok = await new Promise<boolean>((r) => {
      const c = connect(port, '127.0.0.1', () => {
        c.end();
        r(true);
      });
      c.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`Azurite did not listen on port ${port} within ${timeoutMs} ms.`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts Azurite on the given ports, or on free ones. A free port can be taken by another process
 * between being found and Azurite listening on it (parallel test suites do this), so on
 * EADDRINUSE it starts again on fresh ports.
 */
export async function startAzurite(ports?: { blob: number; queue: number; table: number }): Promise<Azurite> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(ports ?? { blob: await freePort(), queue: await freePort(), table: await freePort() });
    } catch (e) {
      if (ports || attempt >= 5 || !/EADDRINUSE/.test((e as Error).message)) throw e;
    }
  }
}

async function startOn(p: { blob: number; queue: number; table: number }): Promise<Azurite> {
  const child = spawn(
    process.execPath,
    [
      require.resolve('azurite/dist/src/azurite.js'),
      '--inMemoryPersistence',
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--silent',
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(p.blob),
      '--queueHost',
      '127.0.0.1',
      '--queuePort',
      String(p.queue),
      '--tableHost',
      '127.0.0.1',
      '--tablePort',
      String(p.table),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += String(d)));
  try {
    await Promise.all([waitForPort(p.blob, child, 30_000), waitForPort(p.queue, child, 30_000), waitForPort(p.table, child, 30_000)]);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${stderr}`, { cause: e });
  }
  return {
    connectionString: azuriteConnectionString(p),
    ports: p,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}
