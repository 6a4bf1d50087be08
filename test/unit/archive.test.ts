import { display, importKey, participants, resolve, toMail, type Directory } from '../../shared/archive/convert';
import type { SourceItem } from '../../shared/archive/model';

const adele = { name: 'Adele Vance', mobile: '447700900101', email: 'adele@contoso.example' };
const alex = { name: 'Alex Wilber', mobile: '447700900102', email: 'Alex@Contoso.example' };
const isaiah = { name: 'Isaiah Langer', mobile: '447700900105', email: 'isaiah@old-domain.example' };
const outsider = { name: 'Customer', mobile: '447700900999', email: null };
const directory = (over: Partial<Directory> = {}): Directory => ({
  csv: new Map([['447700900105', { mailbox: 'isaiah@contoso.example', userId: 'u-isaiah' }]]),
  users: new Map([
    ['adele@contoso.example', 'u-adele'],
    ['alex@contoso.example', 'u-alex'],
    ['isaiah@contoso.example', 'u-isaiah'],
  ]),
  autoMapping: true,
  ...over,
});
const sms = (over: Partial<SourceItem> = {}): SourceItem => ({
  id: 'tm-1',
  type: 'SMS',
  network: 'O2',
  threadId: 't-1',
  timestampUtc: '2026-11-29T10:15:00.000Z',
  direction: 'out',
  from: adele,
  to: [alex, outsider, adele],
  body: 'Meet at <b>10</b> & bring "keys"',
  durationSec: null,
  attachments: [],
  ...over,
});

test('every participant once, the sender first', () => {
  expect(participants(sms()).map((p) => p.mobile)).toEqual(['447700900101', '447700900102', '447700900999']);
});

test('the custom CSV is tried first, then the email address (case-insensitive); nobody else is mapped, and says why', () => {
  expect(resolve(isaiah, directory())).toMatchObject({ mailbox: 'isaiah@contoso.example', userId: 'u-isaiah', by: 'csv' });
  expect(resolve(alex, directory())).toMatchObject({ mailbox: 'alex@contoso.example', userId: 'u-alex', by: 'email' });
  expect(resolve(outsider, directory())).toEqual({ party: outsider, failure: 'user mapping: no Microsoft 365 user for 447700900999' });
  expect(resolve(alex, directory({ autoMapping: false }))).toEqual({
    party: alex,
    failure: 'user mapping: no Microsoft 365 user for 447700900102 (Alex@Contoso.example) (automatic mapping is off)',
  });
  expect(resolve(isaiah, directory({ autoMapping: false }))).toMatchObject({ by: 'csv' });
});

test('participants show as "Name Mobile <email>"; a number with no mailbox gets an address nothing is delivered to', () => {
  expect(display(isaiah, directory())).toEqual({ name: 'Isaiah Langer 447700900105', address: 'isaiah@contoso.example' });
  expect(display(outsider, directory())).toEqual({ name: 'Customer 447700900999', address: '447700900999@mobile.invalid' });
});

test('an SMS becomes a mail from its sender to its recipients, dated at the event, its text escaped', () => {
  const m = toMail(sms({ to: [alex, outsider] }), directory());
  expect(m).toMatchObject({
    subject: 'SMS from Adele Vance 447700900101 to Alex Wilber 447700900102, Customer 447700900999',
    from: { name: 'Adele Vance 447700900101', address: 'adele@contoso.example' },
    to: [
      { name: 'Alex Wilber 447700900102', address: 'alex@contoso.example' },
      { name: 'Customer 447700900999', address: '447700900999@mobile.invalid' },
    ],
    at: '2026-11-29T10:15:00.000Z',
  });
  expect(m.html).toContain('Meet at &#60;b&#62;10&#60;/b&#62; &#38; bring &#34;keys&#34;');
  expect(m.html).not.toContain('<b>');
});

test('a call names caller, callee, start and duration, and its recording', () => {
  const call = sms({
    type: 'VOICE',
    body: null,
    to: [alex],
    durationSec: 6_400,
    attachments: [{ id: 'rec', fileName: 'tm-1.mp3', contentType: 'audio/mpeg', size: 1, sha256: '0'.repeat(64) }],
  });
  const m = toMail(call, directory());
  expect(m.subject).toBe('Call from Adele Vance 447700900101 to Alex Wilber 447700900102 (1 h 46 min 40 s)');
  for (const text of ['Caller', 'Adele Vance 447700900101', 'Callee', '2026-11-29T10:15:00.000Z', '1 h 46 min 40 s', 'tm-1.mp3'])
    expect(m.html).toContain(text);
});

test("a copy's import key is one per item and user, lower-case hex (Exchange compares extended property values case-insensitively)", () => {
  const k = importKey('tm-1', 'U-Adele');
  expect(k).toMatch(/^[0-9a-f]{64}$/);
  expect(importKey('tm-1', 'u-adele')).toBe(k);
  expect(importKey('tm-1', 'u-alex')).not.toBe(k);
  expect(importKey('tm-2', 'u-adele')).not.toBe(k);
});
