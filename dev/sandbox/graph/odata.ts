/**
 * OData query options as Graph applies them: $filter (comparison eq ne gt ge lt le, and/or/not,
 * parentheses, in, startswith/endswith/contains, isof, lambda any/all over a collection property),
 * $select, $orderby, $top, $count.
 */

export class ODataError extends Error {}

type Value = string | number | boolean | null | { datetime: number };
type Node =
  | { kind: 'and' | 'or'; left: Node; right: Node }
  | { kind: 'not'; operand: Node }
  | { kind: 'cmp'; op: string; left: Operand; right: Operand }
  | { kind: 'in'; path: string; values: Value[] }
  | { kind: 'fn'; name: string; args: Operand[] }
  | { kind: 'lambda'; quantifier: 'any' | 'all'; path: string; variable: string; body: Node };
type Operand = { path: string } | { value: Value } | { fn: string; args: Operand[] } | { lambda: Extract<Node, { kind: 'lambda' }> };

type Token = { t: 'str'; v: string } | { t: 'word'; v: string } | { t: 'punct'; v: string };

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let v = '';
      i++;
      for (;;) {
        if (i >= s.length) throw new ODataError('Unterminated string literal in $filter.');
        if (s[i] === "'") {
          if (s[i + 1] === "'") {
            v += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += s[i++];
      }
      out.push({ t: 'str', v });
    } else if ('(),'.includes(c)) {
      out.push({ t: 'punct', v: c });
      i++;
    } else {
      const m = /^[^\s(),']+/.exec(s.slice(i))!;
      out.push({ t: 'word', v: m[0] });
      i += m[0].length;
    }
  }
  return out;
}

const CMP = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);
const FUNCS = new Set(['startswith', 'endswith', 'contains', 'isof', 'tolower', 'toupper']);
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

export function parseFilter(text: string): Node {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = () => tokens[pos];
  const word = (w: string) => peek()?.t === 'word' && peek().v.toLowerCase() === w;
  const expect = (v: string) => {
    const tok = tokens[pos++];
    if (!tok || tok.v !== v) throw new ODataError(`Invalid filter clause: expected '${v}' near position ${pos}.`);
  };

  const literal = (tok: Token): Value => {
    if (tok.t === 'str') return tok.v;
    const v = tok.v;
    if (v === 'true') return true;
    if (v === 'false') return false;
    if (v === 'null') return null;
    if (DATETIME.test(v)) return { datetime: Date.parse(v) };
    if (/^-?\d+(\.\d+)?$/.test(v)) return Number(v);
    if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v)) return v;
    throw new ODataError(`Invalid filter clause: '${v}' is not a literal.`);
  };

  const operand = (): Operand => {
    const tok = tokens[pos++];
    if (!tok) throw new ODataError('Invalid filter clause: unexpected end.');
    if (tok.t === 'word' && FUNCS.has(tok.v.toLowerCase()) && peek()?.v === '(') {
      pos++;
      const args: Operand[] = [];
      while (peek()?.v !== ')') {
        args.push(operand());
        if (peek()?.v === ',') pos++;
      }
      expect(')');
      return { fn: tok.v.toLowerCase(), args };
    }
    if (tok.t === 'word' && /^[A-Za-z_@][\w@./]*$/.test(tok.v) && !['true', 'false', 'null'].includes(tok.v) && !DATETIME.test(tok.v)) {
      const lambda = /^(.+)\/(any|all)$/i.exec(tok.v);
      if (lambda && peek()?.v === '(') {
        // collection/any(v: expression over v/...)
        pos++;
        const variable = /^([A-Za-z_]\w*):$/.exec(tokens[pos++]?.v ?? '')?.[1];
        if (!variable) throw new ODataError(`Invalid filter clause: expected 'name:' after '${tok.v}('.`);
        const body = or();
        expect(')');
        return { lambda: { kind: 'lambda', quantifier: lambda[2].toLowerCase() as 'any' | 'all', path: lambda[1], variable, body } };
      }
      if (peek()?.v === '(') throw new ODataError(`Unsupported filter clause near '${tok.v}'.`);
      return { path: tok.v };
    }
    return { value: literal(tok) };
  };

  const primary = (): Node => {
    if (peek()?.v === '(') {
      pos++;
      const n = or();
      expect(')');
      return n;
    }
    if (word('not')) {
      pos++;
      return { kind: 'not', operand: primary() };
    }
    const left = operand();
    if ('lambda' in left) return left.lambda;
    if (peek()?.t === 'word' && CMP.has(peek().v.toLowerCase())) {
      const op = tokens[pos++].v.toLowerCase();
      return { kind: 'cmp', op, left, right: operand() };
    }
    if (word('in') && 'path' in left) {
      pos++;
      expect('(');
      const values: Value[] = [];
      while (peek()?.v !== ')') {
        values.push(literal(tokens[pos++]));
        if (peek()?.v === ',') pos++;
      }
      expect(')');
      return { kind: 'in', path: left.path, values };
    }
    if ('fn' in left) return { kind: 'fn', name: left.fn, args: left.args };
    throw new ODataError(`Invalid filter clause near position ${pos}.`);
  };
  const and = (): Node => {
    let n = primary();
    while (word('and')) {
      pos++;
      n = { kind: 'and', left: n, right: primary() };
    }
    return n;
  };
  const or = (): Node => {
    let n = and();
    while (word('or')) {
      pos++;
      n = { kind: 'or', left: n, right: and() };
    }
    return n;
  };
  const node = or();
  if (pos !== tokens.length) throw new ODataError(`Invalid filter clause: unexpected '${tokens[pos].v}'.`);
  return node;
}

export function getPath(entity: Record<string, unknown>, path: string): unknown {
  return walk(entity, path.split('/'));
}

/** The value `parts` lead to from `v`, property names matched without regard to case. */
function walk(v: unknown, parts: string[]): unknown {
  for (const part of parts) {
    if (v === null || typeof v !== 'object') return undefined;
    const obj = v as Record<string, unknown>;
    const key = Object.hasOwn(obj, part) ? part : Object.keys(obj).find((k) => k.toLowerCase() === part.toLowerCase());
    v = key === undefined ? undefined : obj[key];
  }
  return v;
}

/** Lambda variables in scope (`ep` in `any(ep: ep/id eq ...)`), each bound to the item it ranges over. */
type Scope = Record<string, unknown>;

/** A path's value: from a lambda variable when it starts with one, else from the entity. */
function valueAt(e: Record<string, unknown>, path: string, scope: Scope): unknown {
  const [head, ...rest] = path.split('/');
  return Object.hasOwn(scope, head) ? walk(scope[head], rest) : getPath(e, path);
}

function evalOperand(o: Operand, e: Record<string, unknown>, scope: Scope): unknown {
  if ('lambda' in o) return evaluate(o.lambda, e, scope);
  if ('path' in o) return valueAt(e, o.path, scope);
  if ('value' in o) return o.value;
  const args = o.args.map((a) => evalOperand(a, e, scope));
  const s = (x: unknown) =>
    typeof x === 'string' ? x.toLowerCase() : x === null || x === undefined ? null : JSON.stringify(x).toLowerCase();
  switch (o.fn) {
    case 'tolower':
      return s(args[0]);
    case 'toupper':
      return typeof args[0] === 'string' ? args[0].toUpperCase() : args[0];
    case 'startswith':
      return s(args[0])?.startsWith(String(s(args[1]))) ?? false;
    case 'endswith':
      return s(args[0])?.endsWith(String(s(args[1]))) ?? false;
    case 'contains':
      return s(args[0])?.includes(String(s(args[1]))) ?? false;
    case 'isof': {
      const type = String(args.length === 2 ? args[1] : args[0]).replace(/^#/, '');
      const actual = (typeof e['@odata.type'] === 'string' ? e['@odata.type'] : '').replace(/^#/, '');
      return actual.toLowerCase() === type.toLowerCase();
    }
  }
  throw new ODataError(`Unsupported function ${o.fn}.`);
}

function compare(a: unknown, b: unknown): number | undefined {
  if (b !== null && typeof b === 'object' && 'datetime' in b) {
    const t = typeof a === 'string' ? Date.parse(a) : NaN;
    if (Number.isNaN(t)) return undefined;
    return t - (b as { datetime: number }).datetime;
  }
  if (typeof a === 'string' && typeof b === 'string') {
    const [x, y] = [a.toLowerCase(), b.toLowerCase()];
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if ((a === null || a === undefined) && b === null) return 0;
  return undefined;
}

export function evaluate(node: Node, e: Record<string, unknown>, scope: Scope = {}): boolean {
  switch (node.kind) {
    case 'and':
      return evaluate(node.left, e, scope) && evaluate(node.right, e, scope);
    case 'or':
      return evaluate(node.left, e, scope) || evaluate(node.right, e, scope);
    case 'not':
      return !evaluate(node.operand, e, scope);
    case 'in':
      return node.values.some((v) => compare(valueAt(e, node.path, scope), v) === 0);
    case 'fn':
      return Boolean(evalOperand({ fn: node.name, args: node.args }, e, scope));
    case 'lambda': {
      const items = valueAt(e, node.path, scope);
      const list = Array.isArray(items) ? items : [];
      const test = (item: unknown) => evaluate(node.body, e, { ...scope, [node.variable]: item });
      return node.quantifier === 'any' ? list.some(test) : list.every(test);
    }
    case 'cmp': {
      const c = compare(evalOperand(node.left, e, scope), evalOperand(node.right, e, scope));
      switch (node.op) {
        case 'eq':
          return c === 0;
        case 'ne':
          return c !== 0;
        case 'gt':
          return c !== undefined && c > 0;
        case 'ge':
          return c !== undefined && c >= 0;
        case 'lt':
          return c !== undefined && c < 0;
        case 'le':
          return c !== undefined && c <= 0;
      }
    }
  }
  return false;
}

export function select<T extends Record<string, unknown>>(entity: T, fields: string[] | undefined): Record<string, unknown> {
  if (!fields?.length) return entity;
  const out: Record<string, unknown> = {};
  for (const k of ['@odata.type', 'id']) if (k in entity) out[k] = entity[k];
  for (const f of fields) {
    const key = Object.keys(entity).find((k) => k.toLowerCase() === f.toLowerCase());
    if (key) out[key] = entity[key];
  }
  return out;
}

export function orderBy<T extends Record<string, unknown>>(items: T[], spec: string | null): T[] {
  if (!spec) return items;
  const keys = spec.split(',').map((s) => {
    const [path, dir] = s.trim().split(/\s+/);
    return { path, desc: dir?.toLowerCase() === 'desc' };
  });
  return [...items].sort((a, b) => {
    for (const k of keys) {
      const c = compare(getPath(a, k.path), getPath(b, k.path)) ?? 0;
      if (c !== 0) return k.desc ? -c : c;
    }
    return 0;
  });
}
