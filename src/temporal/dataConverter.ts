/**
 * One data converter for every client and worker: payloads go through the encryption codec, and
 * failures are encoded too (see failureConverter.ts). The workflow bundle must be built with the
 * same `failureConverterPath` (see worker.ts).
 */
import { fileURLToPath } from 'node:url';
import type { DataConverter, PayloadCodec } from '@temporalio/common';

/** Defined (true) by scripts/build.ts in the bundles under dist/; absent when tsx runs the sources. */
declare const LINKFLOW_BUILT: boolean | undefined;

/** True in `npm run worker` / `npm run api` (dist/), false under tsx (tests, `npm start`). */
export const runningBuilt = typeof LINKFLOW_BUILT !== 'undefined' && LINKFLOW_BUILT;

/** Loaded with `require()` by the SDK, so dist/ ships it as CommonJS next to the bundles. */
export const failureConverterPath = fileURLToPath(
  new URL(runningBuilt ? './failureConverter.cjs' : './failureConverter.ts', import.meta.url),
);

export function linkflowDataConverter(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec], failureConverterPath };
}
