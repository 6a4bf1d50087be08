import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

/**
 * The deployment package: what the function app runs and nothing else. The compiled app (without
 * dist/test, dist/bench, dist/dev), the console's static files, host.json, a package.json with the runtime dependencies only,
 * and node_modules holding exactly the packages package-lock.json does not mark as dev ones
 * (copied from the installed tree: the same versions the tests ran, no second install). azd deploys
 * it (azure.yaml `dist: .deploy`; it runs `npm run package`); without azd, zip it and deploy the zip.
 */

const ROOT = resolve(__dirname, '..', '..');
const APP_DIRS = ['functions', 'shared'];
/** Nothing runs them: type declarations and the libraries' source maps (the app keeps its own). */
const TYPINGS_AND_MAPS = /\.(d\.[cm]?ts|map)$/;

interface LockPackage {
  dev?: boolean;
  optional?: boolean;
}

/** Top-level paths under node_modules (`node_modules/x`, `node_modules/@scope/x`) of the runtime packages. */
export function runtimePackages(root = ROOT): { runtime: string[]; dev: string[] } {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockPackage> };
  const runtime: string[] = [];
  const dev: string[] = [];
  for (const [path, info] of Object.entries(lock.packages)) {
    // Nested copies (node_modules/a/node_modules/b) travel inside their parent's folder.
    if (!path.startsWith('node_modules/') || path.slice('node_modules/'.length).includes('node_modules/')) continue;
    (info.dev ? dev : runtime).push(path);
  }
  return { runtime, dev };
}

function sizeOf(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    if (s.isDirectory()) {
      const inner = sizeOf(p);
      files += inner.files;
      bytes += inner.bytes;
    } else {
      files++;
      bytes += s.size;
    }
  }
  return { files, bytes };
}

export interface PackageReport {
  dir: string;
  files: number;
  bytes: number;
  appBytes: number;
  modulesBytes: number;
  packages: number;
}

export function buildPackage(out = join(ROOT, '.deploy'), root = ROOT): PackageReport {
  const dist = join(root, 'dist');
  if (!existsSync(join(dist, 'functions', 'index.js'))) throw new Error('dist/functions/index.js is missing: run `npm run build` first.');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });

  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  const runtimeManifest = {
    name: pkg.name,
    version: pkg.version,
    private: true,
    main: pkg.main,
    engines: pkg.engines,
    dependencies: pkg.dependencies,
  };
  writeFileSync(join(out, 'package.json'), `${JSON.stringify(runtimeManifest, null, 2)}\n`);
  cpSync(join(root, 'host.json'), join(out, 'host.json'));
  for (const d of APP_DIRS) cpSync(join(dist, d), join(out, 'dist', d), { recursive: true });
  // The admin console's static files, which functions/console.ts serves.
  cpSync(join(root, 'console'), join(out, 'console'), { recursive: true });
  // The JSON files the app imports, which the build copies to dist/ (package.json, host.json).
  for (const f of readdirSync(dist).filter((n) => n.endsWith('.json'))) cpSync(join(dist, f), join(out, 'dist', f));
  const appBytes = sizeOf(out).bytes;

  const { runtime } = runtimePackages(root);
  let packages = 0;
  for (const path of runtime) {
    const from = join(root, path);
    // Optional packages for another platform are in the lock but not installed.
    if (!existsSync(from)) continue;
    cpSync(from, join(out, path), { recursive: true, dereference: true, filter: (src) => !TYPINGS_AND_MAPS.test(src) });
    packages++;
  }
  const total = sizeOf(out);
  return { dir: out, files: total.files, bytes: total.bytes, appBytes, modulesBytes: total.bytes - appBytes, packages };
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

export function describe(r: PackageReport, root = ROOT): string {
  return `Package ${relative(root, r.dir) || r.dir}: ${r.files} files, ${mb(r.bytes)} (app ${mb(r.appBytes)}, node_modules ${mb(r.modulesBytes)} in ${r.packages} runtime packages; no dev dependencies).`;
}

if (require.main === module) {
  try {
    console.log(describe(buildPackage(process.argv[2] ? resolve(process.argv[2]) : undefined)));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
