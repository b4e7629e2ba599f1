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

import { compareBytes, RANGE_END_ALL } from '../../kv/key-span.ts';
import type { Event, WatchFilter } from '../../kv/types.ts';
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

/** An event as `mvccpb.Event`. */
export function wireEventOf(event: Event): WireEvent {
  return {
    type: event.type === 'put' ? 'PUT' : 'DELETE',
    kv: wireKeyValueOf(event.kv),
    ...(event.prevKv === undefined ? {} : { prev_kv: wireKeyValueOf(event.prevKv) }),
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
