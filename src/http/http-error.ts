/** An HTTP answer other than success, carried as an exception from deep in a handler to the router. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    /** A Kafka error name where one fits (TOPIC_ALREADY_EXISTS), else a short HTTP-level name. */
    readonly error: string,
    message: string,
  ) {
    super(message);
  }

  toResponse(headers?: Record<string, string>): Response {
    return Response.json({ error: this.error, message: this.message }, { status: this.status, headers });
  }
}

export function badRequest(message: string, error = "BAD_REQUEST"): HttpError {
  return new HttpError(400, error, message);
}

export function notFound(message: string, error = "NOT_FOUND"): HttpError {
  return new HttpError(404, error, message);
}
