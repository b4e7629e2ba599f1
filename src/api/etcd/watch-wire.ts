/**
 * etcd's Watch messages as decoded and as sent (`etcdserverpb.WatchRequest`,
 * `WatchResponse`, `mvccpb.Event`), and their translation to and from
 * Tessera's watch types.
 *
 * Translations that follow etcd's `api/v3rpc/watch.go` rather than a
 * field's value: an empty key watches the smallest key (`\0`); an empty
 * `range_end` watches the key alone; filters etcd does not know are
 * ignored; a negative `start_revision` is refused as compacted.
 *
 * @module
 */

import type { ServiceDefinition } from '@grpc/grpc-js';
import { compareBytes, RANGE_END_ALL } from '../../kv/key-span.ts';
import type { Event, KeyValue, WatchFilter } from '../../kv/types.ts';
import { validated, type WatchCall, WatchService } from '../../server/api.ts';
import { ETCD_STATUS_BY_CODE } from './errors.ts';
import type { HeaderMaker } from './header.ts';
import { wireKeyValueOf } from './kv-service.ts';
import { type Bytes, type Int64, int64Field, type WireKeyValue, type WireResponseHeader } from './proto.ts';

/** The method the Watch adapter serves, as messages and logs name it. */
export const WATCH_METHOD = '/etcdserverpb.Watch/Watch';

/** `etcdserverpb.WatchCreateRequest` as decoded. */
export interface WireWatchCreateRequest {
  readonly key: Bytes;
  readonly range_end: Bytes;
  readonly start_revision: Int64;
  readonly progress_notify: boolean;
  /** `NOPUT`, `NODELETE`; a number for a value etcd's definitions do not name. */
  readonly filters: readonly (string | number)[];
  readonly prev_kv: boolean;
  readonly watch_id: Int64;
  readonly fragment: boolean;
}

/** `etcdserverpb.WatchRequest` as decoded: `request_union` names the field set. */
export interface WireWatchRequest {
  readonly request_union?: 'create_request' | 'cancel_request' | 'progress_request';
  readonly create_request?: WireWatchCreateRequest | null;
  readonly cancel_request?: { readonly watch_id: Int64 } | null;
}

/** `mvccpb.Event` to send. */
export interface WireEvent {
  readonly type: 'PUT' | 'DELETE';
  readonly kv: WireKeyValue;
  readonly prev_kv?: WireKeyValue;
}

/** `etcdserverpb.WatchResponse` to send; absent fields are proto3's zero values. */
export interface WireWatchResponse {
  readonly header: WireResponseHeader;
  readonly watch_id: Int64;
  readonly created?: boolean;
  readonly canceled?: boolean;
  readonly compact_revision?: Int64;
  readonly cancel_reason?: string;
  readonly fragment?: boolean;
  readonly events?: readonly WireEvent[];
}

/** etcd's `clientv3.InvalidWatchID`: the id of responses that are no watcher's. */
export const INVALID_WATCH_ID = -1;

/** etcd's reason for a create request whose range is empty (`mvcc.ErrEmptyWatcherRange`). */
export const WATCH_RANGE_EMPTY_REASON = 'mvcc: watcher range is empty';

/** etcd's reason for a create request naming an id in use (`mvcc.ErrWatcherDuplicateID`). */
export const WATCH_DUPLICATE_ID_REASON = 'mvcc: duplicate watch ID provided on the WatchStream';

const FILTERS: Readonly<Record<string, WatchFilter>> = { NOPUT: 'noPut', NODELETE: 'noDelete' };

/** The key a create request watches: etcd reads an empty one as the smallest key. */
function watchedKeyOf(create: WireWatchCreateRequest): Uint8Array {
  return create.key.length === 0 ? Uint8Array.of(0) : create.key;
}

/**
 * etcd's reason to refuse a create request before any watcher exists, or
 * undefined: a negative start revision (etcd answers it as compacted), or
 * a range end at or before the key.
 *
 * @throws {InvalidArgumentError} when `start_revision` is past what Tessera's revisions reach.
 */
export function createRefusalOf(create: WireWatchCreateRequest): string | undefined {
  if (int64Field(create.start_revision, 'start_revision') < 0) {
    return ETCD_STATUS_BY_CODE.COMPACTED.message;
  }
  const end = create.range_end;
  const fromKey = end.length === RANGE_END_ALL.length && end[0] === RANGE_END_ALL[0];
  if (end.length > 0 && !fromKey && compareBytes(watchedKeyOf(create), end) >= 0) {
    return WATCH_RANGE_EMPTY_REASON;
  }
  return undefined;
}

/**
 * A create request as the shared watch handler's call, checked by the
 * native RPC's validator.
 *
 * @throws {InvalidArgumentError} or {LimitExceededError} when the request is bad (a key past `KEY_BYTES_MAX`).
 */
export function watchCallOf(create: WireWatchCreateRequest): WatchCall {
  const filters = [
    ...new Set(create.filters.flatMap((filter) => (Object.hasOwn(FILTERS, filter) ? [FILTERS[filter]] : []))),
  ];
  const startRevision = int64Field(create.start_revision, 'start_revision');
  const call = {
    key: watchedKeyOf(create),
    ...(create.range_end.length === 0 ? {} : { rangeEnd: create.range_end }),
    ...(startRevision > 0 ? { startRevision } : {}),
    prevKv: create.prev_kv,
    ...(filters.length === 0 ? {} : { filters }),
    progressNotify: create.progress_notify,
  };
  return validated(WatchService.methods.watch, WATCH_METHOD, call);
}

/**
 * The wire events of each change, by the store's `kv` of it: the watch hub
 * hands every watcher of a change the same `kv` (with `prevKv`, or without
 * it for watchers that did not ask), so they all get the same wire event,
 * which {@link encodingEventsOnce} encodes once.
 */
const wireEvents = new WeakMap<KeyValue, { plain?: WireEvent; withPrevKv?: WireEvent }>();

/** An event as `mvccpb.Event`: the same object for every watcher of the change (see {@link wireEvents}). */
export function wireEventOf(event: Event): WireEvent {
  let shared = wireEvents.get(event.kv);
  if (shared === undefined) {
    shared = {};
    wireEvents.set(event.kv, shared);
  }
  const type = event.type === 'put' ? 'PUT' : 'DELETE';
  const prevKv = event.prevKv;
  if (prevKv === undefined) {
    shared.plain ??= { type, kv: wireKeyValueOf(event.kv) };
    return shared.plain;
  }
  shared.withPrevKv ??= { type, kv: wireKeyValueOf(event.kv), prev_kv: wireKeyValueOf(prevKv) };
  return shared.withPrevKv;
}

/**
 * `serialize` (a `WatchResponse` serializer, the protocol library's) made to
 * encode each wire event once, however many responses carry it: a change
 * goes to every watcher of its key in a response of its own, and the
 * events were most of the encoding (protobufjs was 18% of the CPU of a
 * member sending 64 watchers' events). A response is its other fields
 * encoded, then its events' field bytes; the library writes fields in
 * number order and `events` (11) is the last, so the bytes are the same
 * as `serialize` makes of the whole response.
 */
export function encodingEventsOnce(
  serialize: (response: WireWatchResponse) => Buffer,
): (response: WireWatchResponse) => Buffer {
  // Each wire event's bytes as a `WatchResponse.events` field (tag, length, `mvccpb.Event`).
  const encodedEvents = new WeakMap<WireEvent, Buffer>();
  return (response) => {
    const events = response.events;
    if (events === undefined || events.length === 0) return serialize(response);
    const { events: _, ...rest } = response;
    const head = serialize(rest);
    const parts = [head];
    let bytes = head.length;
    for (const event of events) {
      let encoded = encodedEvents.get(event);
      if (encoded === undefined) {
        // A response of this one event and no other field set: exactly the event's field bytes.
        encoded = serialize({ events: [event] } as unknown as WireWatchResponse);
        encodedEvents.set(event, encoded);
      }
      parts.push(encoded);
      bytes += encoded.length;
    }
    return Buffer.concat(parts, bytes);
  };
}

/** The Watch service's definition with its responses serialized by {@link encodingEventsOnce}. */
export function encodingWatchEventsOnce(definition: ServiceDefinition): ServiceDefinition {
  const watch = definition['Watch'];
  if (watch === undefined) throw new Error('Invariant: the Watch service has no Watch method');
  return {
    ...definition,
    Watch: { ...watch, responseSerialize: encodingEventsOnce(watch.responseSerialize) },
  };
}

/** The answer to a create request: the watcher exists, as of the store's `revision`. */
export function createdResponse(header: HeaderMaker, watchId: number, revision: number): WireWatchResponse {
  return { header: header(revision), watch_id: watchId, created: true };
}

/** The answer to a create request refused for `reason`: no watcher exists (etcd: created and canceled at once). */
export function refusedResponse(header: HeaderMaker, reason: string): WireWatchResponse {
  return {
    header: header(),
    watch_id: INVALID_WATCH_ID,
    created: true,
    canceled: true,
    cancel_reason: reason,
  };
}

/**
 * The last response of a watcher: cancelled by the client (no reason), for
 * `reason`, or because the history it needs was compacted through
 * `compactRevision` (etcd sends no reason then: clients read `compact_revision`).
 */
export function canceledResponse(
  header: HeaderMaker,
  watchId: number,
  end: { readonly reason?: string; readonly compactRevision?: number } = {},
): WireWatchResponse {
  return {
    // etcd's watchable store answers a compacted start at no revision (0): its header carries none.
    header: header(end.compactRevision === undefined ? undefined : 0),
    watch_id: watchId,
    canceled: true,
    ...(end.reason === undefined ? {} : { cancel_reason: end.reason }),
    ...(end.compactRevision === undefined ? {} : { compact_revision: end.compactRevision }),
  };
}
