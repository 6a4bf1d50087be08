/**
 * A stand-in for `@azure/functions-core`, the module the Functions worker injects. @azure/functions
 * calls registerFunction() for each app.http / app.timer / app.storageQueue; we keep the metadata
 * (bindings) and the handler so the local host can run them.
 */
export interface BindingInfo {
  type: string;
  direction: 'in' | 'out';
  name?: string;
  route?: string;
  methods?: string[];
  schedule?: string;
  runOnStartup?: boolean;
  queueName?: string;
  connection?: string;
  [key: string]: unknown;
}

export interface CapturedFunction {
  name: string;
  bindings: Record<string, BindingInfo>;
  handler: (...args: unknown[]) => unknown;
  trigger: BindingInfo;
}

export const functions: CapturedFunction[] = [];
const hooks = new Map<string, Array<(...args: unknown[]) => unknown>>();
let programmingModel: unknown;

export class Disposable {
  constructor(private readonly callOnDispose: () => void) {}
  static from(...items: { dispose(): void }[]): Disposable {
    return new Disposable(() => items.forEach((i) => i.dispose()));
  }
  dispose(): void {
    this.callOnDispose();
  }
}

export function registerFunction(
  metadata: { name: string; bindings: Record<string, BindingInfo> },
  handler: (...args: unknown[]) => unknown,
): Disposable {
  if (functions.some((f) => f.name.toLowerCase() === metadata.name.toLowerCase())) {
    throw new Error(`A function named '${metadata.name}' is already registered; function names must be unique.`);
  }
  const trigger = Object.values(metadata.bindings).find((b) => b.direction === 'in' && /Trigger$/.test(b.type));
  if (!trigger) throw new Error(`Function '${metadata.name}' has no trigger binding.`);
  const entry: CapturedFunction = { name: metadata.name, bindings: metadata.bindings, handler, trigger };
  functions.push(entry);
  return new Disposable(() => functions.splice(functions.indexOf(entry), 1));
}

export function setProgrammingModel(model: unknown): void {
  programmingModel = model;
}
export function getProgrammingModel(): unknown {
  return programmingModel;
}

export function registerHook(name: string, callback: (...args: unknown[]) => unknown): Disposable {
  let list = hooks.get(name);
  if (!list) hooks.set(name, (list = []));
  list.push(callback);
  return new Disposable(() => list.splice(list.indexOf(callback), 1));
}

export function hooksFor(name: string): Array<(...args: unknown[]) => unknown> {
  return hooks.get(name) ?? [];
}

export function log(level: string, _category: string, message: string): void {
  if (level === 'error' || level === 'critical' || level === 'warning') console.error(`[worker] ${message}`);
}

export const version = '3.10.1';
export const hostVersion = '4.1040.0';
