/**
 * Structured logging with redaction. Secrets (tokens, client secrets, webhook secrets, signatures)
 * never reach a log line: keys that name them and values that look like them are masked.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Fields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

export type Sink = (level: Level, line: string) => void;

const SECRET_KEY = /(secret|password|passwd|token|authorization|signature|api[-_]?key|client_assertion|code_verifier|cookie|^code$)/i;
/** Keys that name a secret's identifier, count or time (tokenId, secretCount, tokenExpiresAt), not the secret. */
const NOT_SECRET = /(Ids?|Count|At|Name|Type)$/;
const secretKey = (k: string) => SECRET_KEY.test(k) && !NOT_SECRET.test(k);
const SECRET_VALUE = [
  /whsec_[A-Za-z0-9+/=]+/g, // Standard Webhooks secrets
  /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, // JWTs
  /(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi,
  /(AccountKey=)[^;]+/gi,
  /(client_secret=)[^&\s]+/gi,
];

export function redactString(s: string): string {
  let out = s;
  for (const re of SECRET_VALUE) out = out.replace(re, (_m, p1?: string) => (typeof p1 === 'string' ? `${p1}[redacted]` : '[redacted]'));
  return out;
}

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactString(value);
  if (value === null || typeof value !== 'object' || depth > 6) return value;
  if (value instanceof Error) return { name: value.name, message: redactString(value.message) };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    out[k] =
      secretKey(k) && v !== undefined && v !== null && typeof v !== 'boolean' && typeof v !== 'number'
        ? '[redacted]'
        : redact(v, depth + 1);
  return out;
}

const consoleSink: Sink = (level, line) =>
  level === 'error' ? console.error(line) : level === 'warn' ? console.warn(line) : console.log(line);

export function createLogger(base: Fields = {}, sink: Sink = consoleSink): Logger {
  const emit = (level: Level, message: string, fields?: Fields) => {
    const entry = redact({ level, msg: message, ...base, ...fields }) as Fields;
    sink(level, JSON.stringify(entry));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...base, ...fields }, sink),
  };
}

/** The process-wide logger for code that runs outside an invocation. */
export const log = createLogger();
