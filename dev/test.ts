import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensureCertificate } from './sandbox/tls';

/**
 * `npm test`: jest over the compiled tests. The sandbox certificate is made first and trusted
 * through NODE_EXTRA_CA_CERTS, which Node reads at start-up; each integration suite starts its own
 * Azurite and sandbox on free ports, so suites run in parallel without sharing state.
 * The last line is the totals: "tests: N passed, N failed, N skipped".
 */
async function main() {
  const cert = await ensureCertificate();
  const summaryFile = join(dirname(cert.certPath), '..', 'test-summary.json');
  rmSync(summaryFile, { force: true });
  const child = spawn(process.execPath, [join(dirname(require.resolve('jest/package.json')), 'bin', 'jest.js'), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: cert.certPath, TEST_SUMMARY_FILE: summaryFile },
  });
  child.on('exit', (code, signal) => {
    if (existsSync(summaryFile)) {
      const s = JSON.parse(readFileSync(summaryFile, 'utf8')) as { passed: number; failed: number; skipped: number };
      console.log(`\nNode.js ${process.version}`);
      console.log(`tests: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`);
    }
    process.exit(code ?? (signal ? 1 : 0));
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
