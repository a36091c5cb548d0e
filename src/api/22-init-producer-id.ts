import { ErrorCode } from "../protocol/error-codes.ts";
import type { InitProducerIdRequest, InitProducerIdResponse } from "../protocol/generated/22-init-producer-id.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler } from "./handler.ts";

export const initProducerIdHandler: ApiHandler<InitProducerIdRequest, InitProducerIdResponse> = {
  apiKey: ApiKey.InitProducerId,
  minVersion: 0,
  maxVersion: 5,
  async handle(request, ctx) {
    if (request.transactionalId !== null) {
      // Without a transaction coordinator a transactional producer must fail fast rather than retry forever.
      return { throttleTimeMs: 0, errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, producerId: -1, producerEpoch: -1 };
    }
    // As in Kafka, a non-transactional producer always gets a fresh producer id, even when it asks to bump its epoch.
    const producerId = await ctx.broker.producerIds.next();
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, producerId, producerEpoch: 0 };
  },
  errorResponse(_request, errorCode) {
    return { errorCode, producerId: -1, producerEpoch: -1 };
  },
};
