import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { buildPackage, describe as describePackage, runtimePackages } from '../../dev/package';
import { localSettings } from '../../dev/settings';
import { ROOT } from '../helpers/env';

/** The deployment package (`npm run package`, what azd deploys): built, listed, and loaded on its own. */
const out = join(mkdtempSync(join(tmpdir(), 'package-')), 'deploy');
const report = buildPackage(out);

function list(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? list(p) : [relative(out, p)];
  });
}
const files = list(out);

test('it holds the compiled app and runtime dependencies only: no dev dependency, no tests, benches, dev tools or sources', () => {
  const { runtime, dev } = runtimePackages();
  const shipped = new Set(
    files
      .filter((f) => f.startsWith('node_modules/'))
      .map((f) =>
        f
          .split('/')
          .slice(0, f.split('/')[1].startsWith('@') ? 3 : 2)
          .join('/'),
      ),
  );
  expect(dev.length).toBeGreaterThan(100);
  for (const d of dev) expect(shipped).not.toContain(d);
  expect([...shipped].sort()).toEqual(runtime.filter((p) => statSync(join(ROOT, p), { throwIfNoEntry: false })).sort());
  for (const tool of ['jest', 'azurite', 'typescript', 'tree-sitter', 'eslint']) expect(shipped).not.toContain(`node_modules/${tool}`);
  const app = files.filter((f) => !f.startsWith('node_modules/'));
  expect(app.filter((f) => /^dist\/(test|bench|dev)\/|\.ts$|local\.settings|^infra\/|^test\//.test(f))).toEqual([]);
  expect(app).toEqual(expect.arrayContaining(['host.json', 'package.json', 'dist/package.json', 'dist/functions/index.js']));
  const manifest = JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')) as Record<string, unknown>;
  expect(manifest.devDependencies).toBeUndefined();
  expect(manifest.main).toBe('dist/functions/index.js');
});

test('its size is printed, and it stays under 80 MB', () => {
  expect(describePackage(report)).toMatch(
    /^Package .*: \d+ files, \d+\.\d MB \(app \d+\.\d MB, node_modules \d+\.\d MB in \d+ runtime packages; no dev dependencies\)\.$/,
  );
  expect(report.files).toBe(files.length);
  expect(report.bytes).toBeLessThan(80 * 1024 * 1024);
});

test('the package loads on its own and registers every function the app has', () => {
  // Its entry (which reads its settings as it loads), resolving modules from the package's node_modules
  // only, with the Functions worker's module stood in for.
  const load = (root: string) =>
    spawnSync(
      process.execPath,
      [
        '-e',
        `const Module = require('node:module'); const core = require(${JSON.stringify(join(ROOT, 'dist', 'dev', 'host', 'core.js'))});
         const load = Module._load; Module._load = function (r, ...rest) { return r === '@azure/functions-core' ? core : load.call(this, r, ...rest); };
         require('./dist/functions/index.js'); console.log(JSON.stringify(core.functions.map((f) => f.name)));`,
      ],
      { cwd: root, encoding: 'utf8', env: { PATH: process.env.PATH, ...localSettings(ROOT) } },
    );
  const fromPackage = load(out);
  expect(fromPackage.stderr).toBe('');
  const fromRepo = load(ROOT);
  const names = JSON.parse(fromPackage.stdout) as string[];
  expect(names.length).toBeGreaterThan(30);
  expect(names).toEqual(JSON.parse(fromRepo.stdout));
});

test('azd deploys it: azure.yaml names .deploy, and npm run package builds it', () => {
  expect(readFileSync(join(ROOT, 'azure.yaml'), 'utf8')).toMatch(/\n {4}dist: \.deploy\n/);
  expect((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.package).toBe(
    'node dist/dev/package.js',
  );
});
