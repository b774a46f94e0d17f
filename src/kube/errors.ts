// Kubernetes API failures as typed errors with messages a person can read.

export interface StatusCause {
  readonly reason?: string;
  readonly message?: string;
  readonly field?: string;
}

/** A `Status` answer from the API server (or a transport failure with code 0). */
export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly causes: readonly StatusCause[];
  readonly method: string;
  readonly path: string;

  constructor(
    method: string,
    path: string,
    code: number,
    reason: string,
    message: string,
    causes: readonly StatusCause[] = [],
  ) {
    const fields = causes
      .filter((c) => c.field || c.message)
      .map((c) => `${c.field ? `${c.field}: ` : ''}${c.message ?? c.reason ?? ''}`)
      // The message usually repeats the causes already.
      .filter((f) => !message.includes(f));
    super(
      `${method} ${path}: ${code} ${reason}: ${message}${fields.length ? ` (${fields.join('; ')})` : ''}`,
    );
    this.name = 'ApiError';
    this.code = code;
    this.reason = reason;
    this.causes = causes;
    this.method = method;
    this.path = path;
  }

  get notFound(): boolean {
    return this.code === 404;
  }
  get conflict(): boolean {
    return this.code === 409;
  }
  get gone(): boolean {
    return this.code === 410;
  }
  get invalid(): boolean {
    return this.code === 422;
  }
  get forbidden(): boolean {
    return this.code === 403;
  }
  /** Worth trying again later: throttling, server trouble, timeouts, broken connections. */
  get retriable(): boolean {
    return this.code === 0 || this.code === 429 || this.code >= 500;
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiError && err.notFound;
}

export function isGone(err: unknown): boolean {
  return err instanceof ApiError && err.gone;
}

export function isConflict(err: unknown): boolean {
  return err instanceof ApiError && err.conflict;
}

/** Builds an ApiError from a response body, which is usually a metav1.Status. */
export function apiErrorFrom(method: string, path: string, code: number, body: string): ApiError {
  try {
    const s = JSON.parse(body) as {
      kind?: string;
      reason?: string;
      message?: string;
      details?: { causes?: StatusCause[] };
    };
    if (s.kind === 'Status') {
      return new ApiError(
        method,
        path,
        code,
        s.reason ?? 'Unknown',
        s.message ?? '',
        s.details?.causes ?? [],
      );
    }
  } catch {
    // not JSON: fall through
  }
  return new ApiError(method, path, code, 'Unknown', body.slice(0, 300).trim());
}
