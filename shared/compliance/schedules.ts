import { odata } from '@azure/data-tables';
import { graph } from '../graph/client';
import { groupExists, unlessMissing } from '../graph/objects';
import { clock } from '../platform/clock';
import { badRequest, notFound } from '../platform/errors';
import { actionId, DEFAULT_ACTIONS, type ActionInput } from './inputs';
import { tables, type ScheduleRow } from './model';
import { findTemplate } from './templates';

/** Per-policy action schedules for the tenant's compliance policies (read from Graph). */

const PK = 'policy';

export interface Policy {
  id: string;
  displayName: string;
  platform: string;
}

interface GraphPolicy {
  id: string;
  displayName: string;
  '@odata.type'?: string;
}

const platformOf = (type?: string) => (type ?? '').replace('#microsoft.graph.', '').replace(/CompliancePolicy$/, '') || 'unknown';

export async function listPolicies(): Promise<Policy[]> {
  const all = await graph().all<GraphPolicy>('/deviceManagement/deviceCompliancePolicies', { $select: 'id,displayName' });
  return all.map((p) => ({ id: p.id, displayName: p.displayName, platform: platformOf(p['@odata.type']) }));
}

export async function getPolicy(id: string): Promise<Policy> {
  const p = await unlessMissing(
    graph().get<GraphPolicy>(`/deviceManagement/deviceCompliancePolicies/${encodeURIComponent(id)}`, { $select: 'id,displayName' }),
  );
  if (!p) throw notFound(`Intune has no compliance policy '${id}'.`);
  return { id: p.id, displayName: p.displayName, platform: platformOf(p['@odata.type']) };
}

export interface ScheduledAction extends Record<string, unknown> {
  id: string;
  type: ActionInput['type'];
  days: number;
}

const withIds = (actions: ActionInput[]): ScheduledAction[] =>
  [...actions]
    .sort((a, b) => a.days - b.days || (a.type === 'markNoncompliant' ? -1 : b.type === 'markNoncompliant' ? 1 : 0))
    .map((a) => ({ id: actionId(a), ...a }));

/** The schedule of a policy never configured: mark noncompliant at once. */
export const defaultActions = () => withIds(DEFAULT_ACTIONS);

/** Every configured policy's schedule (a policy not here has defaultActions()). */
export async function schedules(): Promise<Map<string, { actions: ScheduledAction[]; updatedAt: string | null }>> {
  const rows = await tables.schedules.list(odata`PartitionKey eq ${PK}`);
  return new Map(
    rows.map((r) => [r.entity.rowKey, { actions: JSON.parse(r.entity.actions) as ScheduledAction[], updatedAt: r.entity.updatedAt }]),
  );
}

export async function scheduleOf(policyId: string): Promise<{ actions: ScheduledAction[]; updatedAt: string | null }> {
  const row = await tables.schedules.get(PK, policyId);
  return row
    ? { actions: JSON.parse(row.entity.actions) as ScheduledAction[], updatedAt: row.entity.updatedAt }
    : { actions: defaultActions(), updatedAt: null };
}

/** The tenant's compliance policies with their schedules. */
export async function policiesWithSchedules() {
  const [policies, configured] = await Promise.all([listPolicies(), schedules()]);
  return policies.map((p) => ({ ...p, ...(configured.get(p.id) ?? { actions: defaultActions(), updatedAt: null }) }));
}

/**
 * Replaces a policy's schedule after checking what the schema cannot: the policy exists in Intune,
 * each email's template exists, each extra recipient group exists. Nothing is written on failure.
 */
export async function putSchedule(
  policyId: string,
  actions: ActionInput[],
): Promise<{ policy: Policy; actions: ScheduledAction[]; updatedAt: string }> {
  const policy = await getPolicy(policyId);
  const problems: { field: string; message: string }[] = [];
  await Promise.all(
    actions.map(async (a, i) => {
      if (a.type !== 'email') return;
      if (!(await findTemplate(a.templateId)))
        problems.push({ field: `actions.${i}.templateId`, message: `there is no notification template '${a.templateId}'` });
      for (const [j, g] of a.additionalRecipientGroupIds.entries()) {
        if (!(await groupExists(g)))
          problems.push({ field: `actions.${i}.additionalRecipientGroupIds.${j}`, message: `there is no group '${g}' in the tenant` });
      }
    }),
  );
  if (problems.length)
    throw badRequest(`The schedule is invalid: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}.`, problems);
  const row: ScheduleRow = { partitionKey: PK, rowKey: policyId, actions: JSON.stringify(withIds(actions)), updatedAt: clock.iso() };
  await tables.schedules.upsert(row);
  return { policy, actions: withIds(actions), updatedAt: row.updatedAt };
}

/** Policies whose email actions send a template (to refuse deleting it). */
export async function policiesUsingTemplate(templateId: string): Promise<string[]> {
  const all = await schedules();
  return [...all].filter(([, s]) => s.actions.some((a) => a.type === 'email' && a.templateId === templateId)).map(([id]) => id);
}
