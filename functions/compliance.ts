import { z } from 'zod';
import { pageBody, pageOf, pageQuery } from '../shared/platform/http';
import { httpFunction, queueFunction, timerFunction } from '../shared/platform/app';
import { deleteLogo, getBranding, putBranding, putLogo } from '../shared/compliance/branding';
import { changeSchedule, requestScan, runJob } from '../shared/compliance/jobs';
import { accepted, acceptedRun, startedBy } from '../shared/platform/runs';
import { deviceLedger, ledgerSchema, listDeviceStates, stateSchema } from '../shared/compliance/ledger';
import { actionMessage, jobMessage, QUEUE_ACTIONS, QUEUE_JOBS } from '../shared/compliance/model';
import { ACTION_TYPES, brandingInput, scheduleInput, templateInput, uuid } from '../shared/compliance/inputs';
import { VARIABLES } from '../shared/compliance/variables';
import { previewTemplate, sendTestMail } from '../shared/compliance/notify';
import { runAction } from '../shared/compliance/runner';
import { getPolicy, policiesUsingTemplate, policiesWithSchedules, scheduleOf } from '../shared/compliance/schedules';
import { createTemplate, deleteTemplate, getTemplate, listTemplates, replaceTemplate } from '../shared/compliance/templates';

/** Compliance actions for noncompliance: templates, branding, per-policy schedules, detection and the runner. */
const tags = ['compliance'];
const auth = 'Compliance.ReadWrite' as const;

const template = z.object({
  id: z.string(),
  name: z.string(),
  branding: z.object({ companyLogo: z.boolean(), companyName: z.boolean(), contactInformation: z.boolean(), deviceDetails: z.boolean() }),
  messages: z.array(z.object({ locale: z.string(), subject: z.string(), body: z.string(), isDefault: z.boolean() })),
  defaultLocale: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
const previewOf = z
  .object({ deviceId: z.string().min(1), policyName: z.string().max(200).optional(), locale: z.string().max(35).optional() })
  .strict();
const preview = z.object({ to: z.string().nullable(), locale: z.string(), subject: z.string(), html: z.string() });
const branding = z.object({
  companyName: z.string(),
  contact: z.object({ name: z.string(), email: z.string(), phone: z.string(), website: z.string() }),
  logo: z.object({ contentType: z.string(), bytes: z.number(), updatedAt: z.string() }).nullable(),
});
const policy = z.object({ id: z.string(), displayName: z.string(), platform: z.string() });
const action = z.object({
  id: z.string().describe('<type>@<days>'),
  type: z.enum(ACTION_TYPES),
  days: z.number(),
  templateId: z.string().optional(),
  additionalRecipientGroupIds: z.array(z.string()).optional(),
});
const schedule = z.object({ policy, actions: z.array(action), updatedAt: z.string().nullable().describe('Null: never configured.') });
const scheduleChange = schedule.extend({
  cancelled: z.number().describe('Pending actions cancelled because the schedule no longer has them.'),
});
const noTemplate = { description: 'No such template.' };

/* ---------- templates ---------- */

httpFunction('complianceVariables', {
  method: 'GET',
  route: 'admin/compliance/variables',
  auth,
  doc: {
    summary: 'The {{variables}} a template may use',
    tags,
    responses: {
      200: {
        description: 'Name and meaning of each variable.',
        schema: z.object({ value: z.array(z.object({ name: z.string(), description: z.string() })) }),
      },
    },
  },
  handler: () => ({
    status: 200,
    body: { value: Object.entries(VARIABLES).map(([name, description]) => ({ name: `{{${name}}}`, description })) },
  }),
});

httpFunction('complianceTemplates', {
  method: 'GET',
  route: 'admin/compliance/templates',
  auth,
  doc: {
    summary: 'Notification message templates',
    tags,
    responses: { 200: { description: 'Templates by name.', schema: z.object({ value: z.array(template) }) } },
  },
  handler: async () => ({ status: 200, body: { value: await listTemplates() } }),
});

httpFunction('complianceTemplateCreate', {
  method: 'POST',
  route: 'admin/compliance/templates',
  auth,
  body: templateInput,
  doc: {
    summary: 'Create a notification template (name, branding toggles, localized messages with one default)',
    tags,
    responses: {
      201: { description: 'Created.', schema: template },
      400: { description: 'Invalid: lengths, locales, variables or defaults; nothing stored.' },
    },
  },
  handler: async ({ body }) => ({ status: 201, body: await createTemplate(body) }),
});

httpFunction('complianceTemplateGet', {
  method: 'GET',
  route: 'admin/compliance/templates/{id}',
  auth,
  doc: {
    summary: 'One notification template',
    tags,
    responses: { 200: { description: 'The template.', schema: template }, 404: noTemplate },
  },
  handler: async ({ params }) => ({ status: 200, body: await getTemplate(params.id) }),
});

httpFunction('complianceTemplateReplace', {
  method: 'PUT',
  route: 'admin/compliance/templates/{id}',
  auth,
  body: templateInput,
  doc: {
    summary: 'Replace a notification template',
    tags,
    responses: {
      200: { description: 'Replaced.', schema: template },
      400: { description: 'Invalid; nothing changed.' },
      404: noTemplate,
    },
  },
  handler: async ({ params, body }) => ({ status: 200, body: await replaceTemplate(params.id, body) }),
});

httpFunction('complianceTemplateDelete', {
  method: 'DELETE',
  route: 'admin/compliance/templates/{id}',
  auth,
  doc: {
    summary: 'Delete a notification template no schedule uses',
    tags,
    responses: { 204: { description: 'Deleted.' }, 404: noTemplate, 409: { description: 'Still used by an email action.' } },
  },
  handler: async ({ params }) => {
    await deleteTemplate(params.id, await policiesUsingTemplate(params.id));
    return { status: 204 };
  },
});

httpFunction('complianceTemplatePreview', {
  method: 'POST',
  route: 'admin/compliance/templates/{id}/preview',
  auth,
  body: previewOf,
  doc: {
    summary: "Render a template with a real device's values (from Intune), in the user's or a given locale",
    tags,
    responses: {
      200: {
        description: 'Subject, HTML and locale.',
        schema: preview,
      },
      404: { description: 'No such template or device.' },
    },
  },
  handler: async ({ params, body }) => ({
    status: 200,
    body: await previewTemplate(params.id, body.deviceId, body.policyName, body.locale),
  }),
});

httpFunction('complianceTemplateDraftPreview', {
  method: 'POST',
  route: 'admin/compliance/templates/preview',
  auth,
  body: z.object({ template: templateInput, ...previewOf.shape }).strict(),
  doc: {
    summary: "Render a template being edited (not stored) with a real device's values, as the template would be",
    tags,
    responses: {
      200: { description: 'Subject, HTML and locale.', schema: preview },
      400: { description: 'The template is not one that could be saved: what to fix.' },
      404: { description: 'No such device.' },
    },
  },
  handler: async ({ body }) => ({
    status: 200,
    body: await previewTemplate(body.template, body.deviceId, body.policyName, body.locale),
  }),
});

httpFunction('complianceTemplateTest', {
  method: 'POST',
  route: 'admin/compliance/templates/{id}/test',
  auth,
  body: z.object({ to: z.email('an email address'), deviceId: z.string().min(1).optional() }).strict(),
  doc: {
    summary: 'Send a test mail of a template in its default locale (sample values, or a real device)',
    tags,
    responses: {
      202: { description: 'Sent.', schema: z.object({ sentTo: z.string(), subject: z.string(), locale: z.string() }) },
      400: { description: 'No sender mailbox configured, or bad input.' },
      404: { description: 'No such template or device.' },
    },
  },
  handler: async ({ params, body }) => ({ status: 202, body: await sendTestMail(params.id, body.to, body.deviceId) }),
});

/* ---------- branding ---------- */

httpFunction('complianceBranding', {
  method: 'GET',
  route: 'admin/compliance/branding',
  auth,
  doc: {
    summary: 'Company branding used by notifications',
    tags,
    responses: { 200: { description: 'Name, contact and logo facts.', schema: branding } },
  },
  handler: async () => ({ status: 200, body: await getBranding() }),
});

httpFunction('complianceBrandingPut', {
  method: 'PUT',
  route: 'admin/compliance/branding',
  auth,
  body: brandingInput,
  doc: {
    summary: 'Set the company name and contact information',
    tags,
    responses: { 200: { description: 'Saved.', schema: branding }, 400: { description: 'Invalid; nothing changed.' } },
  },
  handler: async ({ body }) => ({ status: 200, body: await putBranding(body) }),
});

httpFunction('complianceLogoPut', {
  method: 'PUT',
  route: 'admin/compliance/branding/logo',
  auth,
  rawBody: true,
  doc: {
    summary: 'Upload the company logo (PNG or JPEG, at most 256 KiB), shown in the mail header',
    tags,
    responses: {
      200: { description: 'Saved.', schema: branding },
      413: { description: 'Too large.' },
      415: { description: 'Not PNG or JPEG.' },
    },
  },
  handler: async ({ rawBody, headers }) => ({ status: 200, body: await putLogo(rawBody, headers.get('content-type')) }),
});

httpFunction('complianceLogoDelete', {
  method: 'DELETE',
  route: 'admin/compliance/branding/logo',
  auth,
  doc: { summary: 'Remove the company logo', tags, responses: { 200: { description: 'Removed.', schema: branding } } },
  handler: async () => ({ status: 200, body: await deleteLogo() }),
});

/* ---------- policies and schedules ---------- */

httpFunction('compliancePolicies', {
  method: 'GET',
  route: 'admin/compliance/policies',
  auth,
  doc: {
    summary: "The tenant's compliance policies (from Intune) with their action schedules",
    tags,
    responses: {
      200: {
        description: 'Policies.',
        schema: z.object({ value: z.array(policy.extend({ actions: z.array(action), updatedAt: z.string().nullable() })) }),
      },
    },
  },
  handler: async () => ({ status: 200, body: { value: await policiesWithSchedules() } }),
});

httpFunction('compliancePolicyActions', {
  method: 'GET',
  route: 'admin/compliance/policies/{id}/actions',
  auth,
  doc: {
    summary: "A policy's action schedule",
    tags,
    responses: { 200: { description: 'The schedule.', schema: schedule }, 404: { description: 'No such policy in Intune.' } },
  },
  handler: async ({ params }) => ({ status: 200, body: { policy: await getPolicy(params.id), ...(await scheduleOf(params.id)) } }),
});

httpFunction('compliancePolicyActionsPut', {
  method: 'PUT',
  route: 'admin/compliance/policies/{id}/actions',
  auth,
  body: scheduleInput,
  doc: {
    summary: "Replace a policy's action schedule",
    description:
      'Actions: markNoncompliant (required, exactly one), email (templateId, additionalRecipientGroupIds), remoteLock, retire (at most one); each 0 to 365 days after the device became noncompliant.',
    tags,
    responses: {
      200: {
        description:
          'Saved; applies to devices already noncompliant too: removed actions still pending are cancelled (their count in `cancelled`), added ones are planned by the next scan (POST …/evaluate to run one now).',
        schema: scheduleChange,
      },
      400: { description: 'Invalid; nothing changed.' },
      404: { description: 'No such policy in Intune.' },
    },
  },
  handler: async ({ params, body }) => ({ status: 200, body: await changeSchedule(params.id, body.actions) }),
});

httpFunction('compliancePolicyActionsReset', {
  method: 'DELETE',
  route: 'admin/compliance/policies/{id}/actions',
  auth,
  doc: {
    summary: "Reset a policy's schedule to the default (mark noncompliant immediately)",
    tags,
    responses: { 200: { description: 'Reset.', schema: scheduleChange }, 404: { description: 'No such policy in Intune.' } },
  },
  handler: async ({ params }) => ({ status: 200, body: await changeSchedule(params.id, [{ type: 'markNoncompliant', days: 0 }]) }),
});

/* ---------- detection, devices and ledger ---------- */

httpFunction('complianceEvaluate', {
  method: 'POST',
  route: 'admin/compliance/evaluate',
  auth,
  doc: {
    summary: 'Run detection now (as the timer does), then dispatch due actions',
    description:
      'Answers the run to follow (Location). Scans never overlap: a request while one runs queues the next, and requests meanwhile join that queued scan, so the run answered always reads the tenant after the request. The run lists, per policy, devices newly noncompliant, actions planned, devices resolved or removed from Intune, actions cancelled, lost actions sent again; counters add the actions dispatched.',
    tags,
    responses: {
      202: {
        description: 'Queued, or joined a scan not yet started.',
        schema: acceptedRun.extend({ joined: z.boolean().describe('A scan not yet started was joined.') }),
      },
    },
  },
  handler: async ({ principal }) => {
    const { id, joined } = await requestScan(startedBy(principal));
    return accepted(id, { joined });
  },
});

httpFunction('complianceDevices', {
  method: 'GET',
  route: 'admin/compliance/devices',
  auth,
  query: pageQuery.extend({ status: z.enum(['noncompliant', 'compliant', 'noLongerManaged']).optional() }),
  doc: {
    summary: 'Device states per policy: noncompliant since, grace period, marked, skipped',
    tags,
    responses: { 200: { description: 'One page of device states; nextLink while there are more.', schema: pageOf(stateSchema) } },
  },
  handler: async ({ query, url }) => ({
    status: 200,
    body: pageBody(await listDeviceStates(query.status, query.top, query.continuationToken), url),
  }),
});

httpFunction('complianceDevice', {
  method: 'GET',
  route: 'admin/compliance/devices/{deviceId}',
  auth,
  params: z.object({ deviceId: uuid }),
  doc: {
    summary: "A device's state per policy and its action ledger (pending, running, done, failed, cancelled, skipped)",
    tags,
    responses: {
      200: {
        description: 'State and ledger.',
        schema: z.object({ deviceId: z.string(), states: z.array(stateSchema), actions: z.array(ledgerSchema) }),
      },
      400: { description: 'Not a device id.' },
      404: { description: 'Intune has no such device, and there are no compliance records for it.' },
    },
  },
  handler: async ({ params }) => ({ status: 200, body: await deviceLedger(params.deviceId) }),
});

timerFunction('complianceScheduledScan', {
  schedule: '%COMPLIANCE_SCAN_SCHEDULE%',
  handler: async ({ log }) => log.info('Compliance scan queued', await requestScan(startedBy())),
});

queueFunction('complianceJobs', { queue: QUEUE_JOBS, schema: jobMessage, handler: async ({ data }, delivery) => runJob(data, delivery) });

queueFunction('complianceRunner', {
  queue: QUEUE_ACTIONS,
  schema: actionMessage,
  handler: async ({ data }, delivery) => {
    const outcome = await runAction(data, delivery);
    if (outcome === 'busy' || outcome === 'duplicate' || outcome === 'stale' || outcome === 'early' || outcome === 'deferred')
      delivery.log.info('Compliance action message had nothing to do', { ...data, outcome });
  },
});
