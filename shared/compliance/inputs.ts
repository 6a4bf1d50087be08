import { z } from 'zod';
import { variableProblems } from './variables';

/** What admins send to the compliance API: templates, branding and action schedules, with their limits and rules. */

export const MAX_DAYS = 365;

export const SUBJECT_MAX = 255; // Exchange's subject limit
export const BODY_MAX = 10_000;
export const NAME_MAX = 100;
export const LOCALES_MAX = 40;

const withVariables = (max: number, what: string) =>
  z
    .string()
    .trim()
    .min(1, `the ${what} is empty`)
    .max(max, `the ${what} is longer than ${max} characters`)
    .superRefine((s, ctx) => {
      for (const p of variableProblems(s)) ctx.addIssue({ code: 'custom', message: p });
    });

export const localeSchema = z
  .string()
  .regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/i, 'a language tag such as en-US or de-DE')
  .transform((s) => s.toLowerCase());

export const localizedMessage = z.object({
  locale: localeSchema,
  subject: withVariables(SUBJECT_MAX, 'subject'),
  body: withVariables(BODY_MAX, 'body'),
  isDefault: z.boolean().default(false),
});
export type LocalizedMessage = z.infer<typeof localizedMessage>;

export const brandingToggles = z.object({
  companyLogo: z.boolean().default(true),
  companyName: z.boolean().default(true),
  contactInformation: z.boolean().default(true),
  deviceDetails: z.boolean().default(true),
});

export const templateInput = z
  .object({
    name: z.string().trim().min(1, 'the name is empty').max(NAME_MAX, `the name is longer than ${NAME_MAX} characters`),
    branding: brandingToggles.prefault({}),
    messages: z
      .array(localizedMessage)
      .min(1, 'at least one localized message is needed')
      .max(LOCALES_MAX, `at most ${LOCALES_MAX} locales`),
  })
  .strict()
  .superRefine((t, ctx) => {
    const seen = new Set<string>();
    t.messages.forEach((m, i) => {
      if (seen.has(m.locale))
        ctx.addIssue({ code: 'custom', path: ['messages', i, 'locale'], message: `locale ${m.locale} appears twice` });
      seen.add(m.locale);
    });
    const defaults = t.messages.filter((m) => m.isDefault).length;
    if (defaults !== 1)
      ctx.addIssue({ code: 'custom', path: ['messages'], message: `exactly one message must have isDefault: true (found ${defaults})` });
  });
export type TemplateInput = z.infer<typeof templateInput>;

/* ---------- branding ---------- */

export const LOGO_MAX_BYTES = 256 * 1024;
export const LOGO_TYPES = ['image/png', 'image/jpeg'] as const;

export const brandingInput = z
  .object({
    companyName: z.string().trim().max(100, 'the company name is longer than 100 characters').default(''),
    contact: z
      .object({
        name: z.string().trim().max(100).default(''),
        email: z.union([z.email('an email address'), z.literal('')]).default(''),
        phone: z.string().trim().max(40).default(''),
        website: z.union([z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }), z.literal('')]).default(''),
      })
      .strict()
      .prefault({}),
  })
  .strict();
export type Branding = z.infer<typeof brandingInput> & { logo: { contentType: string; bytes: number; updatedAt: string } | null };

/* ---------- schedules ---------- */

export const ACTION_TYPES = ['markNoncompliant', 'email', 'remoteLock', 'retire'] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

export const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'a GUID');
const days = z
  .number({ error: 'a whole number of days from 0 to 365' })
  .int('a whole number of days')
  .min(0, 'at least 0 days')
  .max(MAX_DAYS, `at most ${MAX_DAYS} days`);

export const actionInput = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('markNoncompliant'), days }).strict(),
    z
      .object({
        type: z.literal('email'),
        days,
        templateId: z.string().min(1, 'the template id'),
        additionalRecipientGroupIds: z.array(uuid).max(20, 'at most 20 groups').default([]),
      })
      .strict(),
    z.object({ type: z.literal('remoteLock'), days }).strict(),
    z.object({ type: z.literal('retire'), days }).strict(),
  ],
  { error: `type must be one of ${ACTION_TYPES.join(', ')}` },
);
export type ActionInput = z.infer<typeof actionInput>;

export const scheduleInput = z
  .object({ actions: z.array(actionInput).max(20, 'at most 20 actions') })
  .strict()
  .superRefine((s, ctx) => {
    const marks = s.actions.filter((a) => a.type === 'markNoncompliant').length;
    if (marks === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['actions'],
        message: "the 'markNoncompliant' action is required and cannot be removed; set its days (0 to 365) instead",
      });
    if (marks > 1) ctx.addIssue({ code: 'custom', path: ['actions'], message: "there can be only one 'markNoncompliant' action" });
    if (s.actions.filter((a) => a.type === 'retire').length > 1)
      ctx.addIssue({ code: 'custom', path: ['actions'], message: "there can be only one 'retire' action (a device is retired once)" });
    const seen = new Map<string, number>();
    s.actions.forEach((a, i) => {
      const id = actionId(a);
      if (seen.has(id))
        ctx.addIssue({
          code: 'custom',
          path: ['actions', i],
          message: `actions ${seen.get(id)} and ${i} are both ${a.type} on day ${a.days}; keep one`,
        });
      seen.set(id, i);
    });
  });

/** An action's identity within a schedule: its type and day, stable across edits of its details. */
export const actionId = (a: { type: ActionType; days: number }) => `${a.type}@${a.days}`;

/** Every policy has at least this: mark noncompliant immediately. */
export const DEFAULT_ACTIONS: ActionInput[] = [{ type: 'markNoncompliant', days: 0 }];
