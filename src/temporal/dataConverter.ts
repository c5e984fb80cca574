/**
 * One data converter for every client and worker: payloads go through the encryption codec, and
 * failures are encoded too (see failureConverter.ts). The workflow bundle must be built with the
 * same `failureConverterPath` (see worker.ts).
 */
import { fileURLToPath } from 'node:url';
import type { DataConverter, PayloadCodec } from '@temporalio/common';

export const failureConverterPath = fileURLToPath(new URL('./failureConverter.ts', import.meta.url));

export function linkflowDataConverter(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec], failureConverterPath };
}
