// Loaded by path (clients, workers and the workflow bundle): failure messages and stack traces
// go through the payload codec too, so an error text quoting Plaid is never in history in clear.
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
