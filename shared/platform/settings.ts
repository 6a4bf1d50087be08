import { z } from 'zod';

/** Building blocks of setting schemas; each message says what a valid value looks like. */

export const uuid = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'a GUID such as 00000000-0000-0000-0000-000000000000');
export const httpsUrl = z.url({ protocol: /^https$/, error: 'an https:// URL' });
export const anyUrl = z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' });
export const int = (min: number, max: number, dflt: number) =>
  z.coerce
    .number({ error: `a whole number from ${min} to ${max}` })
    .int(`a whole number from ${min} to ${max}`)
    .min(min, `at least ${min}`)
    .max(max, `at most ${max}`)
    .default(dflt);
export const csv = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);

/** A six-field NCRONTAB schedule (UTC), as timer triggers read it. */
export const schedule = (example: string) => z.string().regex(/^\S+( \S+){5}$/, `a six-field NCRONTAB schedule, e.g. ${example}`);

/** "<amount>/<seconds>": a budget over a sliding window of that many seconds. */
export const perWindow = (dflt: string) =>
  z
    .string()
    .default(dflt)
    .pipe(
      z
        .string()
        .regex(/^\d+\/\d+$/, `<amount>/<seconds>, e.g. ${dflt}`)
        .transform((s) => {
          const [amount, seconds] = s.split('/').map(Number);
          return { amount, windowMs: seconds * 1000 };
        })
        .refine((b) => b.amount > 0 && b.windowMs > 0, 'an amount and a number of seconds above 0'),
    );
