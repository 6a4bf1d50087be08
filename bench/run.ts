import { benchEntryLoad, benchHealth } from './platform';
import { startWorld } from './lib';
import { benchTemIntake } from './tem';
import { benchVppSync } from './vpp';

/** `npm run bench`: every benchmark, printing its figures beside the floor it cannot beat. */
async function main() {
  const only = process.argv[2];
  const world = await startWorld();
  try {
    console.log(`node ${process.version}, ${require('node:os').cpus().length} CPUs`);
    if (!only || only === 'platform') {
      await benchHealth(world);
      benchEntryLoad(world);
    }
    if (!only || only === 'tem') await benchTemIntake(world);
    if (!only || only === 'vpp') await benchVppSync(world);
  } finally {
    await world.stop();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
