/**
 * The one error shape of the app. Domain code throws these; the HTTP layer turns them into
 * RFC 9457 problem+json and the queue layer decides whether a retry can help.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'AppError';
  }
}

export interface FieldError {
  field: string;
  message: string;
}

export const badRequest = (detail: string, errors?: FieldError[]) => new AppError(400, 'Bad Request', detail, errors ? { errors } : {});
export const unauthorized = (detail: string) =>
  new AppError(
    401,
    'Unauthorized',
    detail,
    {},
    { 'WWW-Authenticate': `Bearer error="invalid_token", error_description="${detail.replace(/"/g, "'")}"` },
  );
export const forbidden = (detail: string) => new AppError(403, 'Forbidden', detail);
export const notFound = (detail: string) => new AppError(404, 'Not Found', detail);
export const conflict = (detail: string) => new AppError(409, 'Conflict', detail);
export const preconditionFailed = (detail: string) => new AppError(412, 'Precondition Failed', detail);
export const payloadTooLarge = (detail: string) => new AppError(413, 'Payload Too Large', detail);
export const unsupportedMediaType = (detail: string) => new AppError(415, 'Unsupported Media Type', detail);

/** A storage limit Azure would enforce (Azurite does not): the write is refused before it is sent. */
export class StorageLimitError extends AppError {
  constructor(detail: string) {
    super(400, 'Storage limit exceeded', detail);
    this.name = 'StorageLimitError';
  }
}

/** Optimistic concurrency lost: the row changed since it was read. */
export class ConcurrencyError extends AppError {
  constructor(detail: string) {
    super(412, 'Precondition Failed', detail);
    this.name = 'ConcurrencyError';
  }
}
