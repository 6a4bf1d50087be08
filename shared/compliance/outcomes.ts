import type { DeviceFacts } from './notify';
import { PARTNER_AGENTS, type StateRow } from './model';

/**
 * The runner's decisions, from facts it has just read: pure functions, so each rule is tested on its
 * own (runner.ts does the reading, the acting and the ledger writes).
 */

/** Management states of a device on its way out of Intune: nothing more to do to it. */
const LEAVING = new Set(['retirePending', 'retireIssued', 'wipePending', 'wipeIssued', 'deletePending']);

export interface Finish {
  status: 'cancelled' | 'skipped';
  reason: string;
}

export interface Facts {
  /** The action as the policy's schedule has it now; undefined once removed from it. */
  scheduled: boolean;
  /** The device's state row for the policy. */
  state?: Pick<StateRow, 'status' | 'since'>;
  /** The noncompliance (episode) the action was planned for. */
  episode: string;
  /** The device as Intune has it now; undefined once it left Intune. */
  device?: Pick<DeviceFacts, 'managementAgent' | 'managementState' | 'complianceState'>;
}

/** Whether a due action still applies, just before it runs: why not, or undefined to act. */
export function stillApplies(f: Facts): Finish | undefined {
  if (!f.scheduled) return { status: 'cancelled', reason: 'removed from the policy schedule' };
  if (!f.state || f.state.status !== 'noncompliant') return { status: 'cancelled', reason: 'device compliant again' };
  if (f.state.since !== f.episode) return { status: 'cancelled', reason: `superseded by the noncompliance that started ${f.state.since}` };
  const d = f.device;
  if (!d) return { status: 'cancelled', reason: 'device no longer managed by Intune' };
  if (d.managementAgent && PARTNER_AGENTS.has(d.managementAgent)) return { status: 'skipped', reason: 'partner-managed' };
  if (d.managementState && LEAVING.has(d.managementState))
    return { status: 'cancelled', reason: `device is leaving management (${d.managementState})` };
  if (d.complianceState !== 'noncompliant' && d.complianceState !== 'inGracePeriod')
    return { status: 'cancelled', reason: `device compliant again (Intune reports ${d.complianceState})` };
  return undefined;
}

/**
 * After an interruption: whether the device lists a device action of this type started after the
 * baseline recorded before it was sent (then it was ours, and is not sent again).
 */
export function deviceActionSent(
  type: string,
  results: DeviceFacts['deviceActionResults'],
  row: { effectStartedAt?: string; actionBaseline?: string },
): { sent: boolean; latest?: string } {
  const latest = (results ?? [])
    .filter((r) => r.actionName === type && r.startDateTime)
    .map((r) => r.startDateTime!)
    .sort()
    .pop();
  return { sent: !!row.effectStartedAt && !!latest && latest > (row.actionBaseline ?? ''), latest };
}
