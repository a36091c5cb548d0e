import { ErrorCode } from "../protocol/error-codes.ts";
import type {
  FindCoordinatorRequest,
  FindCoordinatorResponse,
  FindCoordinatorResponseCoordinator,
} from "../protocol/generated/10-find-coordinator.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { Encodable } from "../protocol/encodable.ts";
import type { ApiHandler, RequestContext } from "./handler.ts";

const KEY_TYPE_GROUP = 0;
const KEY_TYPE_TRANSACTION = 1;

/**
 * A group's coordinator is one broker, the same whichever broker is asked (see group/coordinator-placement.ts).
 * Transactions are unsupported, so they have no coordinator.
 */
export const findCoordinatorHandler: ApiHandler<FindCoordinatorRequest, FindCoordinatorResponse> = {
  apiKey: ApiKey.FindCoordinator,
  minVersion: 0,
  maxVersion: 6,
  handle(request, ctx) {
    // From v4 the keys come batched; before that one key per request.
    if (ctx.apiVersion >= 4) {
      return { throttleTimeMs: 0, coordinators: request.coordinatorKeys.map((key) => locate(key, request.keyType, ctx)) };
    }
    const found = locate(request.key, request.keyType, ctx);
    return {
      throttleTimeMs: 0,
      errorCode: found.errorCode,
      errorMessage: found.errorMessage,
      nodeId: found.nodeId,
      host: found.host,
      port: found.port,
    };
  },
  errorResponse(request, errorCode, ctx) {
    if (ctx.apiVersion >= 4) {
      return { coordinators: request.coordinatorKeys.map((key) => ({ key, nodeId: -1, host: "", port: -1, errorCode, errorMessage: null })) };
    }
    return { errorCode, nodeId: -1, host: "", port: -1 };
  },
};

function locate(key: string, keyType: number, ctx: RequestContext): Encodable<FindCoordinatorResponseCoordinator> {
  const unavailable = (errorCode: number, errorMessage: string) => ({ key, nodeId: -1, host: "", port: -1, errorCode, errorMessage });
  if (keyType === KEY_TYPE_TRANSACTION) return unavailable(ErrorCode.COORDINATOR_NOT_AVAILABLE, "transactions are not supported");
  if (keyType !== KEY_TYPE_GROUP) return unavailable(ErrorCode.INVALID_REQUEST, `unknown coordinator key type ${keyType}`);
  if (key === "") return unavailable(ErrorCode.INVALID_GROUP_ID, "empty group id");
  const coordinator = ctx.broker.groupCoordinator(key);
  if (coordinator === undefined) return unavailable(ErrorCode.COORDINATOR_NOT_AVAILABLE, "no broker is live yet");
  return { key, nodeId: coordinator.nodeId, host: coordinator.host, port: coordinator.port, errorCode: ErrorCode.NONE, errorMessage: null };
}
