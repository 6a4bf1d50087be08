import { createHash } from 'node:crypto';
import type { ImportItem, Participant } from '../graph/mail';
import type { SourceItem } from './model';
import { escapeHtml } from '../platform/http';

/**
 * Conversion of a source item into the mail item each participant's mailbox receives, and the
 * mapping of participants to Microsoft 365 users: the custom CSV first, then the item's email
 * address (when automatic mapping is on). Pure, so every rule is tested without storage.
 */

type Party = SourceItem['from'];

export interface Directory {
  /** Mobile number (international form without '+') → mailbox and user, from the custom CSV. */
  csv: Map<string, { mailbox: string; userId: string }>;
  /** Lower-cased mail or user principal name → user id, from Graph. */
  users: Map<string, string>;
  autoMapping: boolean;
}

export type Resolution = { party: Party; mailbox: string; userId: string; by: 'csv' | 'email' } | { party: Party; failure: string };

/** Every participant once (by mobile number): the sender, then the recipients. */
export function participants(item: SourceItem): Party[] {
  const seen = new Set<string>();
  return [item.from, ...item.to].filter((p) => !seen.has(p.mobile) && !!seen.add(p.mobile));
}

export function resolve(p: Party, d: Directory): Resolution {
  const mapped = d.csv.get(p.mobile);
  if (mapped) return { party: p, ...mapped, by: 'csv' };
  if (d.autoMapping && p.email) {
    const userId = d.users.get(p.email.toLowerCase());
    if (userId) return { party: p, mailbox: p.email.toLowerCase(), userId, by: 'email' };
  }
  return {
    party: p,
    failure: `user mapping: no Microsoft 365 user for ${p.mobile}${p.email ? ` (${p.email})` : ''}${d.autoMapping ? '' : ' (automatic mapping is off)'}`,
  };
}

/** `Name Mobile <email>`: the participant as every copy shows it (a number with no mailbox gets an address that cannot be delivered to). */
export function display(p: Party, d: Directory): Participant {
  const r = resolve(p, d);
  return { name: `${p.name} ${p.mobile}`.trim(), address: 'mailbox' in r ? r.mailbox : (p.email ?? `${p.mobile}@mobile.invalid`) };
}

const duration = (s: number) => `${Math.floor(s / 3600) ? `${Math.floor(s / 3600)} h ` : ''}${Math.floor((s % 3600) / 60)} min ${s % 60} s`;

/** The mail item of a source item (the same for every participant's copy), without its import key. */
export function toMail(item: SourceItem, d: Directory): Omit<ImportItem, 'importKey'> {
  const from = display(item.from, d);
  const to = item.to.map((p) => display(p, d));
  const names = to.map((p) => p.name).join(', ');
  const rows = (r: [string, string][]) =>
    `<table>${r.map(([k, v]) => `<tr><th style="text-align:left">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>`;
  if (item.type === 'VOICE') {
    const d2 = duration(item.durationSec ?? 0);
    return {
      subject: `Call from ${from.name} to ${names} (${d2})`,
      html: rows([
        ['Caller', from.name],
        ['Callee', names],
        ['Start (UTC)', item.timestampUtc],
        ['Duration', d2],
        ['Network', item.network],
        ['Recording', item.attachments.length ? item.attachments.map((a) => a.fileName).join(', ') : 'none'],
      ]),
      from,
      to,
      at: item.timestampUtc,
    };
  }
  return {
    subject: `${item.type} from ${from.name} to ${names}`,
    html: `<p>${escapeHtml(item.body ?? '').replace(/\n/g, '<br>')}</p>${rows([
      ['Sent (UTC)', item.timestampUtc],
      ['Network', item.network],
      ['Thread', item.threadId],
    ])}`,
    from,
    to,
    at: item.timestampUtc,
  };
}

/** The key of one copy: the item in one user's mailbox. Lower-case hex, as the lookup compares values case-insensitively. */
export const importKey = (itemId: string, userId: string) => createHash('sha256').update(`${itemId}|${userId.toLowerCase()}`).digest('hex');
