/** Refuses bodies over `maxBytes` with 413 before anything parses them (Content-Length or streamed). */
import { bodyLimit } from 'hono/body-limit';
import { ApiError } from '../errors';

export function limitBody(maxBytes: number) {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) =>
      c.json(new ApiError(413, 'PAYLOAD_TOO_LARGE', `request body exceeds ${maxBytes} bytes`).body(), 413),
  });
}
