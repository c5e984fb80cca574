/**
 * Workflow histories to and from Temporal's JSON format (the one `temporal workflow show --output
 * json` and the UI's download produce).
 *
 * `historyToJSON` / `historyFromJSON` of `@temporalio/common/lib/proto-utils` are tried first.
 * In an install where npm could not hoist protobufjs 8 (here @grpc/proto-loader pins protobufjs 7
 * at the top level, so @temporalio/common and @temporalio/proto each get their own copy of
 * protobufjs 8), they throw `TypeError: type must be a Type`: common's protojson checks
 * `instanceof Type` against its copy while the History type was built by proto's copy. The
 * fallback does the same conversion with the protojson of the copy @temporalio/proto loads.
 */
import { createRequire } from 'node:module';
import * as protoUtils from '@temporalio/common/lib/proto-utils';
import proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';

type History = protoUtils.History;

interface ProtoJson {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
}

let fallback: { protojson: ProtoJson; historyType: unknown } | undefined;

function protoCopy() {
  if (!fallback) {
    // Resolve protobufjs from where @temporalio/proto resolves it: its own copy, or the hoisted one.
    const fromProto = createRequire(createRequire(import.meta.url).resolve('@temporalio/proto'));
    const protojson = fromProto('protobufjs/ext/protojson') as ProtoJson;
    // biome-ignore lint/suspicious/noExplicitAny: the patched root's lookupType is untyped
    const root = patchProtobufRoot(proto as any) as { lookupType(name: string): unknown };
    fallback = { protojson, historyType: root.lookupType('temporal.api.history.v1.History') };
  }
  return fallback;
}

const isDuplicateProtobufError = (err: unknown) =>
  err instanceof TypeError && /must be a Type/.test(err.message);

export function historyToJSON(history: History): string {
  try {
    return protoUtils.historyToJSON(history);
  } catch (err) {
    if (!isDuplicateProtobufError(err)) throw err;
    const { protojson, historyType } = protoCopy();
    const message = proto.temporal.api.history.v1.History.fromObject(history);
    return JSON.stringify(protojson.toJson(historyType, message), null, 2);
  }
}

export function historyFromJSON(json: unknown): History {
  try {
    return protoUtils.historyFromJSON(json);
  } catch (err) {
    if (!isDuplicateProtobufError(err)) throw err;
    // Our files are written by historyToJSON above: canonical proto JSON, no enum fix-ups needed.
    const { protojson, historyType } = protoCopy();
    const loaded = protojson.fromJson(historyType, json, { ignoreUnknownFields: true });
    if (!loaded) throw new TypeError('invalid history JSON');
    return loaded as History;
  }
}
