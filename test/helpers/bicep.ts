import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, relative } from 'node:path';
import Parser from 'tree-sitter';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Bicep = require('tree-sitter-bicep');

/**
 * Offline checks of the Bicep in infra/ (no Bicep CLI here): every file parses (tree-sitter-bicep),
 * lint rules hold, and the infrastructure matches the code: settings, tables, queues, containers.
 */
type Node = Parser.SyntaxNode;

const parser = new Parser();
parser.setLanguage(Bicep);

export interface BicepFile {
  path: string;
  text: string;
  root: Node;
}

export function bicepFiles(dir: string): BicepFile[] {
  const out: BicepFile[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.bicep')) {
        const text = readFileSync(p, 'utf8');
        out.push({ path: relative(dir, p), text, root: parser.parse(text).rootNode });
      }
    }
  };
  walk(dir);
  return out;
}

const all = (n: Node, type: string): Node[] => n.descendantsOfType(type);
const nameOf = (decl: Node) => decl.namedChildren.find((c) => c.type === 'identifier')?.text ?? '';
const stringValue = (n: Node | undefined) => (n?.type === 'string' ? n.text.slice(1, -1) : undefined);
/** The decorators written above a declaration. */
const decoratorsOf = (decl: Node) => (decl.previousNamedSibling?.type === 'decorators' ? decl.previousNamedSibling.text : '');

export function parseErrors(f: BicepFile): string[] {
  const bad = [...all(f.root, 'ERROR'), ...f.root.descendantsOfType('MISSING')];
  if (!f.root.hasError) return [];
  return (bad.length ? bad : [f.root]).map((n) => `${f.path}:${n.startPosition.row + 1}: syntax error near '${n.text.slice(0, 40)}'`);
}

export interface Param {
  name: string;
  hasDefault: boolean;
  /** The default's text ('' for none). */
  defaultText: string;
  secure: boolean;
}

export function params(f: BicepFile): Param[] {
  return f.root.namedChildren
    .filter((n) => n.type === 'parameter_declaration')
    .map((n) => ({
      name: nameOf(n),
      hasDefault: n.namedChildren.length > 2,
      defaultText: n.namedChildren.length > 2 ? n.namedChildren[n.namedChildren.length - 1].text : '',
      secure: /@secure\(\)/.test(decoratorsOf(n)),
    }));
}

/** Keys of an object literal. */
export function objectKeys(obj: Node | undefined): string[] {
  if (!obj || obj.type !== 'object') return [];
  return obj.namedChildren
    .filter((c) => c.type === 'object_property')
    .map((p) => {
      const key = p.namedChildren[0];
      return key.type === 'string' ? key.text.slice(1, -1) : key.text;
    });
}

export function variable(f: BicepFile, name: string): Node | undefined {
  const decl = f.root.namedChildren.find((n) => n.type === 'variable_declaration' && nameOf(n) === name);
  return decl?.namedChildren[1];
}

export function stringArray(node: Node | undefined): string[] {
  if (!node || node.type !== 'array') return [];
  return node.namedChildren.map((c) => stringValue(c) ?? `<${c.text}>`);
}

/**
 * The strings a variable of main.bicep holds, following what this project's Bicep uses: array
 * literals, other variables, concat(), and members of loadJsonContent('<file>') (read with
 * `loadJson`). Anything else is shown as `<expression>`.
 */
export function strings(main: BicepFile, node: Node | undefined, loadJson: (file: string) => unknown): string[] {
  if (!node) return [];
  if (node.type === 'array')
    return node.namedChildren.flatMap((c) => stringValue(c) ?? (c.type === 'identifier' ? [`<${c.text}>`] : strings(main, c, loadJson)));
  if (node.type === 'identifier') return strings(main, variable(main, node.text), loadJson);
  const fn = node.childForFieldName('function')?.text;
  const args = node.childForFieldName('arguments')?.namedChildren ?? [];
  if (node.type === 'call_expression' && fn === 'concat') return args.flatMap((a) => strings(main, a, loadJson));
  if (node.type === 'member_expression') {
    const source = variable(main, node.childForFieldName('object')?.text ?? '');
    const file =
      source?.type === 'call_expression' && source.childForFieldName('function')?.text === 'loadJsonContent'
        ? stringValue(source.childForFieldName('arguments')?.namedChildren[0])
        : undefined;
    const value = file ? (loadJson(file) as Record<string, unknown>)[node.childForFieldName('property')?.text ?? ''] : undefined;
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  }
  return [`<${node.text}>`];
}

const SECRETISH = /(secret|password|token|connectionstring|accountkey|key$)/i;

/** Lint rules, per file: explicit API versions, secure secret parameters, nothing secret in outputs, no keys. */
export function lint(files: BicepFile[]): string[] {
  const problems: string[] = [];
  for (const f of files) {
    problems.push(...parseErrors(f));
    for (const r of all(f.root, 'resource_declaration')) {
      const type = stringValue(r.namedChildren[1]) ?? '';
      if (!/^[A-Za-z]+\.[A-Za-z]+\/[A-Za-z/]+@\d{4}-\d{2}-\d{2}(-preview)?$/.test(type))
        problems.push(`${f.path}: resource '${nameOf(r)}' has no explicit API version ('${type}').`);
    }
    const secure = new Set<string>();
    for (const p of params(f)) {
      if (SECRETISH.test(p.name) && !p.secure) problems.push(`${f.path}: parameter '${p.name}' looks secret but has no @secure().`);
      if (p.secure) secure.add(p.name);
      // As Bicep's secure-parameter-default rule: an empty string is the one allowed default.
      if (p.secure && p.hasDefault && p.defaultText !== "''") problems.push(`${f.path}: secure parameter '${p.name}' has a default value.`);
    }
    for (const o of f.root.namedChildren.filter((n) => n.type === 'output_declaration')) {
      const name = nameOf(o);
      const value = o.namedChildren[o.namedChildren.length - 1]?.text ?? '';
      if (SECRETISH.test(name)) problems.push(`${f.path}: output '${name}' looks secret.`);
      if (/list(Keys|Secrets|AccountSas|ServiceSas|ConnectionStrings)\s*\(/i.test(value))
        problems.push(`${f.path}: output '${name}' exposes a key or secret (${value}).`);
      for (const s of secure)
        if (new RegExp(`\\b${s}\\b`).test(value)) problems.push(`${f.path}: output '${name}' uses secure parameter '${s}'.`);
      if (/ConnectionString|primaryKey|secondaryKey|InstrumentationKey/i.test(value))
        problems.push(`${f.path}: output '${name}' exposes a connection string or key (${value}).`);
    }
    if (/listKeys\s*\(|AccountKey=|DefaultEndpointsProtocol=/.test(f.text))
      problems.push(`${f.path}: uses a storage key or a connection string with a key; use identity-based access.`);
    for (const r of all(f.root, 'resource_declaration')) {
      if (!/^'Microsoft\.Storage\/storageAccounts@/.test(r.namedChildren[1]?.text ?? '') || /\bexisting\b/.test(r.text.split('=')[0]))
        continue;
      if (!/allowSharedKeyAccess:\s*false/.test(r.text))
        problems.push(`${f.path}: storage account '${nameOf(r)}' must set allowSharedKeyAccess: false.`);
    }
  }
  return problems;
}

/** Parameters of main.bicep against main.parameters.json, both ways. */
export function parameterDrift(main: BicepFile, parametersJson: string): string[] {
  const given = Object.keys((JSON.parse(parametersJson) as { parameters: Record<string, unknown> }).parameters);
  const declared = params(main);
  const problems: string[] = [];
  for (const p of declared)
    if (!p.hasDefault && !given.includes(p.name)) problems.push(`main.parameters.json does not give required parameter '${p.name}'.`);
  for (const g of given)
    if (!declared.some((p) => p.name === g)) problems.push(`main.parameters.json gives '${g}', which main.bicep does not declare.`);
  return problems;
}

/** App setting names the infrastructure sets: the appSettings variable of main.bicep and what the function app module adds to it. */
export function appSettingNames(files: BicepFile[]): string[] {
  const main = files.find((f) => f.path === 'main.bicep')!;
  // An object literal, or a union() of them (some only under a condition).
  const expr = variable(main, 'appSettings');
  const names = new Set(expr ? [expr, ...expr.descendantsOfType('object')].flatMap((o) => objectKeys(o)) : []);
  for (const f of files) {
    for (const call of all(f.root, 'call_expression')) {
      const args = call.childForFieldName('arguments')?.namedChildren ?? [];
      if (call.childForFieldName('function')?.text === 'union' && args[0]?.text === 'appSettings')
        for (const a of args.slice(1)) objectKeys(a).forEach((k) => names.add(k));
    }
  }
  return [...names];
}

export interface CodeFacts {
  requiredSettings: string[];
  knownSettings: string[];
  tables: readonly string[];
  queues: readonly string[];
  containers: readonly string[];
}

/** The infrastructure against the code: every required setting set, no unknown ones, every table/queue/container created. */
export function codeDrift(files: BicepFile[], code: CodeFacts, loadJson: (file: string) => unknown): string[] {
  const problems: string[] = [];
  const main = files.find((f) => f.path === 'main.bicep');
  if (!main) return ['infra/main.bicep is missing.'];
  const settings = appSettingNames(files);
  for (const s of code.requiredSettings)
    if (!settings.includes(s)) problems.push(`App setting '${s}' is required by the app but not set in Bicep.`);
  for (const s of settings) {
    const platform = /^(AzureWebJobsStorage__|APPLICATIONINSIGHTS_|FUNCTIONS_|WEBSITE_)/.test(s);
    if (!platform && !code.knownSettings.includes(s)) problems.push(`Bicep sets app setting '${s}', which the app does not read.`);
  }
  if (!settings.includes('AzureWebJobsStorage__accountName'))
    problems.push('AzureWebJobsStorage must be identity-based (AzureWebJobsStorage__accountName).');
  if (settings.includes('AzureWebJobsStorage')) problems.push('AzureWebJobsStorage must not be a connection string.');
  const compare = (kind: string, inBicep: string[], inCode: readonly string[]) => {
    for (const n of inCode) if (!inBicep.includes(n)) problems.push(`${kind} '${n}' is used by the code but not created in Bicep.`);
    for (const n of inBicep)
      if (!n.startsWith('<') && !inCode.includes(n)) problems.push(`${kind} '${n}' is created in Bicep but not used by the code.`);
  };
  const declared = (name: string) => strings(main, variable(main, name), loadJson);
  compare('Table', declared('tables'), code.tables);
  compare('Queue', declared('queues'), code.queues);
  compare(
    'Container',
    declared('containers').filter((c) => !c.startsWith('<')),
    code.containers,
  );
  return problems;
}

/** A stand-in for ARM's uniqueString: deterministic, 13 characters, changes with any input (as ARM's does). */
export function uniqueStringStandIn(...parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest();
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return [...digest.subarray(0, 13)].map((b) => alphabet[b % 32]).join('');
}

/**
 * Evaluates a Bicep expression of the kinds resource names use here: strings with interpolation,
 * identifiers (main.bicep's parameters and variables, or values given in `scope`), member paths
 * such as `identity.outputs.principalId` or `subscription().id` (looked up in `scope` by their text),
 * and toLower, take and uniqueString (the stand-in above).
 */
export function evaluate(main: BicepFile, node: Node, scope: Record<string, string>): string {
  if (node.type === 'string')
    return node.namedChildren.map((c) => (c.type === 'interpolation' ? evaluate(main, c.namedChildren[0], scope) : c.text)).join('');
  if (node.type === 'parenthesized_expression') return evaluate(main, node.namedChildren[0], scope);
  if (node.text in scope) return scope[node.text];
  if (node.type === 'identifier') {
    const v = variable(main, node.text);
    if (!v) throw new Error(`No value for '${node.text}': give it in the scope.`);
    return evaluate(main, v, scope);
  }
  if (node.type === 'call_expression') {
    const fn = node.childForFieldName('function')?.text;
    const args = (node.childForFieldName('arguments')?.namedChildren ?? []).map((a) => evaluate(main, a, scope));
    if (fn === 'toLower') return args[0].toLowerCase();
    if (fn === 'take') return args[0].slice(0, Number(args[1]));
    if (fn === 'uniqueString') return uniqueStringStandIn(...args);
  }
  if (node.type === 'number') return node.text;
  throw new Error(`Cannot evaluate '${node.text}' (${node.type}).`);
}

/** The `name` each module of main.bicep gives its resource: module symbol → the name expression. */
export function moduleNameParams(main: BicepFile): Map<string, Node> {
  const out = new Map<string, Node>();
  for (const m of main.root.namedChildren.filter((n) => n.type === 'module_declaration')) {
    const body = m.namedChildren.find((c) => c.type === 'object');
    const paramsProp = body?.namedChildren.find((p) => p.type === 'object_property' && p.namedChildren[0]?.text === 'params');
    const nameProp = paramsProp?.namedChildren[1]?.namedChildren.find(
      (p) => p.type === 'object_property' && /^(name|logAnalyticsName)$/.test(p.namedChildren[0]?.text ?? ''),
    );
    if (nameProp) out.set(nameOf(m), nameProp.namedChildren[1]);
  }
  return out;
}

/** A resource declaration's properties object, by its symbolic name. */
export function resourceBody(f: BicepFile, symbol: string): string | undefined {
  return all(f.root, 'resource_declaration').find((r) => nameOf(r) === symbol)?.text;
}
