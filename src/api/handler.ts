import type { Encodable } from "../protocol/encodable.ts";
import type { Broker } from "../broker.ts";

/** What a handler knows about the request it serves, beyond the decoded body. */
export interface RequestContext {
  readonly broker: Broker;
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly correlationId: number;
  readonly clientId: string | null;
  readonly connectionId: number;
  readonly clientHost: string;
  /** Keeps borrowed views (mapped segment bytes) alive until the response that carries them is written. */
  releaseAfterWrite(release: () => void): void;
}

/** Returned by a handler that must not answer (Produce with acks=0). */
export const NO_RESPONSE: unique symbol = Symbol("NO_RESPONSE");
export type NoResponse = typeof NO_RESPONSE;

/**
 * One Kafka API: a decoded request in, a response out. Handlers never touch sockets;
 * the response may omit fields, which are then written with their schema defaults.
 */
export interface ApiHandler<Request = any, Response = any> {
  readonly apiKey: number;
  /** Versions this broker really implements; advertised by ApiVersions. */
  readonly minVersion: number;
  readonly maxVersion: number;
  /**
   * Handle only once every earlier request on the connection is answered, as Kafka handles every request. Requests
   * are otherwise handled as they arrive and answered in order, so an answer computed behind a parked acks=all
   * produce would reach the client seconds later, older than what other brokers have told it since.
   */
  readonly waitsForEarlierRequests?: boolean;
  handle(request: Request, ctx: RequestContext): Encodable<Response> | NoResponse | Promise<Encodable<Response> | NoResponse>;
  /** The answer when handle throws: the error code in every place the client will look. Default: a top-level errorCode. */
  errorResponse?(request: Request, errorCode: number, ctx: RequestContext): Encodable<Response>;
}
