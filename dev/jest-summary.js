/** Records the run's totals for dev/test.ts, which prints them as the closing line once jest has exited. */
const { writeFileSync } = require('node:fs');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    // A suite that failed outside any test (a crash in a hook or at load) counts as one failure.
    const crashed = results.testResults.filter((s) => s.testExecError && s.numFailingTests === 0).length;
    const summary = {
      passed: results.numPassedTests,
      failed: results.numFailedTests + crashed,
      skipped: results.numPendingTests + results.numTodoTests,
    };
    if (process.env.TEST_SUMMARY_FILE) writeFileSync(process.env.TEST_SUMMARY_FILE, JSON.stringify(summary));
  }
}
module.exports = SummaryReporter;
