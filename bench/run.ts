import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { node22 } from '../dev/node22';
import { startWorld, type World } from './lib';
import { benchArchiveImport } from './archive';
import { benchCompliance } from './compliance';
import { benchConsole } from './console';
import { benchEntryLoad, benchHealth } from './platform';
import { benchRemoteAssistance } from './remote-assistance';
import { benchTemIntake } from './tem';
import { benchVppSync } from './vpp';

/**
 * `npm run bench [platform|tem|vpp|compliance|archive|remote-assistance|console]`: every benchmark, printing its figures beside the floor it
 * cannot beat. Each group gets a fresh Azurite and sandbox, so none measures another's leftovers.
 * `npm run bench -- --node22 [group]` runs the same on Node 22, the runtime Azure uses.
 */
const groups: Record<string, (world: World) => Promise<void>> = {
  platform: async (world) => {
    await benchHealth(world);
    benchEntryLoad(world);
  },
  tem: benchTemIntake,
  vpp: (world) => benchVppSync(world),
  compliance: (world) => benchCompliance(world),
  archive: benchArchiveImport,
  'remote-assistance': (world) => benchRemoteAssistance(world),
  console: (world) => benchConsole(world),
};

async function main() {
  const args = process.argv.slice(2);
  if (args.includes('--node22')) {
    // Every process the benchmarks start is spawned with process.execPath, so all of them run on it.
    const rest = args.filter((a) => a !== '--node22');
    const bin = node22();
    if (bin !== process.execPath) process.exit(spawnSync(bin, [__filename, ...rest], { stdio: 'inherit' }).status ?? 1);
    args.splice(0, args.length, ...rest);
  }
  const only = args[0];
  if (only && !groups[only]) throw new Error(`Unknown benchmark group '${only}'; use one of ${Object.keys(groups).join(', ')}.`);
  console.log(`node ${process.version}, ${cpus().length} CPUs`);
  for (const [name, run] of Object.entries(groups)) {
    if (only && only !== name) continue;
    const world = await startWorld();
    try {
      await run(world);
    } finally {
      await world.stop();
    }
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
