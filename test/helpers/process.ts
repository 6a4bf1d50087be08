import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { eventually, ROOT, type TestEnv } from './env';

/** The app in its own host process (as in Azure), so a test can kill it mid-work and start another. */
export async function startHostProcess(env: TestEnv, port: number, logName: string): Promise<ChildProcess> {
  const log = resolve(ROOT, '.dev', logName);
  const child = spawn(process.execPath, [resolve(ROOT, 'dist/dev/host/cli.js')], {
    cwd: ROOT,
    env: { ...process.env, ...env.settings, PORT: String(port), LOCAL_HOST_QUEUE_LEASE_SECONDS: '3' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The host's output, for reading after a failure.
  mkdirSync(resolve(ROOT, '.dev'), { recursive: true });
  child.stdout.on('data', (d) => appendFileSync(log, String(d)));
  child.stderr.on('data', (d) => appendFileSync(log, String(d)));
  await eventually(
    async () => {
      try {
        return (await fetch(`http://localhost:${port}/api/health`)).ok;
      } catch {
        return false;
      }
    },
    30_000,
    'host process up',
  );
  return child;
}

export const kill = (child: ChildProcess | undefined, signal: NodeJS.Signals) =>
  new Promise<void>((done) => {
    if (!child || child.exitCode !== null || child.signalCode) return done();
    child.once('exit', () => done());
    child.kill(signal);
  });
