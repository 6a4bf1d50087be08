/** The `{{Name}}` variables of notification subjects and bodies: which exist, checking, filling. */

/** Variables a subject or body may use, as `{{Name}}`, and what each becomes. */
export const VARIABLES = {
  UserName: "The user's display name",
  UserEmail: "The user's email address",
  DeviceName: 'The device name',
  DeviceId: 'The Intune device id',
  OSAndVersion: 'Operating system and version, e.g. iOS 17.4',
  PolicyName: 'The compliance policy the device does not meet',
  NoncompliantSince: 'When the device became noncompliant (UTC)',
  CompanyName: 'The company name from branding',
} as const;
export type VariableName = keyof typeof VARIABLES;

const VARIABLE = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** Problems with the `{{…}}` variables in a text: unknown names and unbalanced braces. */
export function variableProblems(text: string): string[] {
  const problems: string[] = [];
  for (const m of text.matchAll(VARIABLE)) {
    if (!(m[1] in VARIABLES))
      problems.push(
        `unknown variable {{${m[1]}}}; use one of ${Object.keys(VARIABLES)
          .map((v) => `{{${v}}}`)
          .join(', ')}`,
      );
  }
  const rest = text.replace(VARIABLE, '');
  if (rest.includes('{{') || rest.includes('}}')) problems.push("unbalanced '{{' or '}}'; variables are written {{Name}}");
  return problems;
}

/** Replaces each variable with its value (already escaped by the caller when the target is HTML). */
export function fillVariables(text: string, values: Record<VariableName, string>): string {
  return text.replace(VARIABLE, (_, name: string) => values[name as VariableName] ?? '');
}
