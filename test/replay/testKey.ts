/**
 * The fixed encryption key the histories in test/histories were recorded with. It is a test key,
 * committed on purpose and used nowhere else: replay has to decode the workflow's input, signals
 * and activity results (the workflow reads them), so the replay worker needs the same codec and
 * failure converter as the worker that wrote the history.
 */
import { createKeyring } from '../../src/crypto';
import { createEncryptionCodec } from '../../src/temporal/codec';
import { linkflowDataConverter } from '../../src/temporal/dataConverter';

export const REPLAY_TEST_KEY = 'rOglbmLd0I1F1O+2XsI9zMnhtsR1qNtVnhahUYQ8Fuk=';

export function replayDataConverter() {
  return linkflowDataConverter(createEncryptionCodec(createKeyring(REPLAY_TEST_KEY)));
}
