import { randomUUID } from 'node:crypto';
import { odata } from '@azure/data-tables';
import { clock } from '../platform/clock';
import { conflict, notFound } from '../platform/errors';
import { brandingToggles, type LocalizedMessage, type TemplateInput } from './inputs';
import { fillVariables, type VariableName } from './variables';
import { tables, type Template, type TemplateRow } from './model';

/** Notification message templates: stored, listed, and rendered into a mail in the user's locale. */

const HEADER = 'template';

function toTemplate(row: TemplateRow): Template {
  const messages = JSON.parse(row.messages) as LocalizedMessage[];
  return {
    id: row.rowKey,
    name: row.name,
    branding: brandingToggles.parse(JSON.parse(row.branding)),
    messages,
    defaultLocale: messages.find((m) => m.isDefault)!.locale,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export async function listTemplates(): Promise<Template[]> {
  const rows = await tables.templates.list(odata`PartitionKey eq ${HEADER}`);
  return rows.map((r) => toTemplate(r.entity)).sort((a, b) => a.name.localeCompare(b.name));
}

export async function getTemplate(id: string): Promise<Template> {
  const t = await findTemplate(id);
  if (!t) throw notFound(`There is no notification template '${id}'.`);
  return t;
}

export async function findTemplate(id: string): Promise<Template | undefined> {
  const row = await tables.templates.get(HEADER, id);
  return row && toTemplate(row.entity);
}

function row(id: string, t: TemplateInput, createdAt: string): TemplateRow {
  return {
    partitionKey: HEADER,
    rowKey: id,
    name: t.name,
    branding: JSON.stringify(t.branding),
    messages: JSON.stringify(t.messages),
    createdAt,
    updatedAt: clock.iso(),
  };
}

/** A template as it would be stored, for a preview of what is being edited. */
export const draftTemplate = (t: TemplateInput): Template => toTemplate(row('draft', t, clock.iso()));

export async function createTemplate(t: TemplateInput): Promise<Template> {
  const r = row(randomUUID(), t, clock.iso());
  await tables.templates.insert(r);
  return toTemplate(r);
}

export async function replaceTemplate(id: string, t: TemplateInput): Promise<Template> {
  const existing = await tables.templates.get(HEADER, id);
  if (!existing) throw notFound(`There is no notification template '${id}'.`);
  const r = row(id, t, existing.entity.createdAt);
  await tables.templates.update(r, existing.etag);
  return toTemplate(r);
}

/** Deletes a template no schedule uses; `usedBy` lists the policies that still send it. */
export async function deleteTemplate(id: string, usedBy: string[]): Promise<void> {
  if (usedBy.length)
    throw conflict(
      `Template '${id}' is used by the email actions of ${usedBy.length === 1 ? 'policy' : 'policies'} ${usedBy.join(', ')}; change those schedules first.`,
    );
  const existing = await tables.templates.get(HEADER, id);
  if (!existing) throw notFound(`There is no notification template '${id}'.`);
  await tables.templates.delete(HEADER, id, existing.etag);
}

/** The message for a user's language: exact tag, then same language, then the default. */
export function pickMessage(t: Template, preferred?: string | null): LocalizedMessage {
  const want = (preferred ?? '').toLowerCase();
  return (
    t.messages.find((m) => m.locale === want) ??
    t.messages.find((m) => want && m.locale.split('-')[0] === want.split('-')[0]) ??
    t.messages.find((m) => m.isDefault)!
  );
}

export type MailValues = Record<VariableName, string>;

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export interface BrandingView {
  companyName: string;
  contact: { name: string; email: string; phone: string; website: string };
  /** Content id of the inline logo attachment, when there is a logo. */
  logoCid?: string;
}

export interface RenderedMail {
  locale: string;
  subject: string;
  html: string;
}

/**
 * Renders a template for one device: the subject and body with variables filled (HTML-escaped in
 * the body), the logo in the header, the company name and contact in the footer, and a device
 * details table, each as the template's toggles say.
 */
export function renderMail(t: Template, branding: BrandingView, values: MailValues, preferredLocale?: string | null): RenderedMail {
  const m = pickMessage(t, preferredLocale);
  const escaped = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, escapeHtml(v)])) as MailValues;
  // Braces survive escaping, so variables are filled into the escaped body with escaped values.
  const paragraphs = fillVariables(escapeHtml(m.body), escaped)
    .split(/\n{2,}/)
    .map((p) => `<p>${p.replace(/\n/g, '<br>')}</p>`)
    .join('\n');
  const parts: string[] = ['<!DOCTYPE html><html><body style="font-family:Segoe UI,Arial,sans-serif;font-size:14px;color:#222">'];
  if (t.branding.companyLogo && branding.logoCid)
    parts.push(
      `<div class="logo"><img src="cid:${branding.logoCid}" alt="${escapeHtml(branding.companyName || 'Company logo')}" style="max-height:60px"></div>`,
    );
  parts.push(paragraphs);
  if (t.branding.deviceDetails) {
    const row = (label: string, value: string) =>
      `<tr><th align="left" style="padding-right:12px">${label}</th><td>${escapeHtml(value)}</td></tr>`;
    parts.push(
      `<table class="device-details" style="margin:12px 0;border-collapse:collapse">${[
        row('Device', values.DeviceName),
        row('Operating system', values.OSAndVersion),
        row('Compliance policy', values.PolicyName),
        row('Noncompliant since', values.NoncompliantSince),
      ].join('')}</table>`,
    );
  }
  const footer: string[] = [];
  if (t.branding.companyName && branding.companyName) footer.push(`<div class="company">${escapeHtml(branding.companyName)}</div>`);
  if (t.branding.contactInformation) {
    const c = branding.contact;
    const lines = [
      c.name && escapeHtml(c.name),
      c.phone && escapeHtml(c.phone),
      c.email && `<a href="mailto:${escapeHtml(c.email)}">${escapeHtml(c.email)}</a>`,
      c.website && `<a href="${escapeHtml(c.website)}">${escapeHtml(c.website)}</a>`,
    ].filter(Boolean);
    if (lines.length) footer.push(`<div class="contact">${lines.join(' &middot; ')}</div>`);
  }
  if (footer.length) parts.push(`<hr><footer style="color:#555;font-size:12px">${footer.join('\n')}</footer>`);
  parts.push('</body></html>');
  return { locale: m.locale, subject: fillVariables(m.subject, values), html: parts.join('\n') };
}
