import { cpus } from 'node:os';
import { startWorld, type World } from './lib';
import { benchCompliance } from './compliance';
import { benchEntryLoad, benchHealth } from './platform';
import { benchTemIntake } from './tem';
import { benchVppSync } from './vpp';

/**
 * `npm run bench [platform|tem|vpp|compliance]`: every benchmark, printing its figures beside the floor it
 * cannot beat. Each group gets a fresh Azurite and sandbox, so none measures another's leftovers.
 */
const groups: Record<string, (world: World) => Promise<void>> = {
  platform: async (world) => {
    await benchHealth(world);
    benchEntryLoad(world);
  },
  tem: benchTemIntake,
  vpp: (world) => benchVppSync(world),
  compliance: (world) => benchCompliance(world),
};

async function main() {
  const only = process.argv[2];
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
