/**
 * Turns what etcdctl printed against one cluster into text that can be
 * compared with what it printed against the other: every value that is
 * random or belongs to one cluster (addresses, member and cluster ids,
 * captured lease ids, Raft terms, timings, log timestamps, the lease in a
 * lock or election key) becomes a placeholder naming what it was. Values
 * both clusters must agree on (revisions, keys, values, versions, counts,
 * error texts) are left alone. Not part of the build (`*.suite.ts`).
 *
 * @module
 */
import type { ComparedSide } from './etcdctl-clusters.suite.ts';

/** A rewrite of a transcript: a pattern and its replacement, or a function of the whole text. */
export type Rewrite = readonly [RegExp, string] | ((text: string) => string);

/** Seconds a remaining TTL may be below the granted one and still read as "about the granted TTL". */
const TTL_SLACK_SECONDS = 5;

/** Escapes `text` for use inside a RegExp. */
export function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A pattern matching `value` only as a whole word of letters and digits. */
function word(value: string): RegExp {
  return new RegExp(`(?<![0-9A-Za-z])${escaped(value)}(?![0-9A-Za-z])`, 'g');
}

/** The decimal, hexadecimal and 16-digit zero-padded hexadecimal spellings of an id. */
function spellings(id: bigint): string[] {
  const hex = id.toString(16);
  return [...new Set([id.toString(), hex, hex.padStart(16, '0')])];
}

/**
 * A zap log line of etcdctl (`{"level":...}`) without what changes from run
 * to run: its timestamp and how long the call took.
 */
function stableLogLine(line: string): string {
  if (!line.startsWith('{"level":')) return line;
  try {
    const entry = JSON.parse(line) as Record<string, unknown>;
    delete entry['ts'];
    if ('took' in entry) entry['took'] = '<duration>';
    return JSON.stringify(entry);
  } catch {
    return line;
  }
}

/** "remaining(57s)" of a TTL granted 60 s reads as "remaining(~60s)": the seconds elapsed are timing. */
function approximateTtls(text: string): string {
  const near = (remaining: string, granted: string): boolean =>
    Number(remaining) <= Number(granted) && Number(remaining) >= Number(granted) - TTL_SLACK_SECONDS;
  return text
    .replace(/TTL\((\d+)s\), remaining\((\d+)s\)/g, (all, granted: string, remaining: string) =>
      near(remaining, granted) ? `TTL(${granted}s), remaining(~${granted}s)` : all,
    )
    .replace(/"ttl":(\d+),"granted-ttl":(\d+)/g, (all, remaining: string, granted: string) =>
      near(remaining, granted) ? `"ttl":"~${granted}","granted-ttl":${granted}` : all,
    );
}

/**
 * Rewrites of everything one side prints that is its own: addresses,
 * ids, captured variables. Longest spellings first, so a shorter one never
 * cuts into a longer one.
 */
function sideRewrites(side: ComparedSide): Rewrite[] {
  const pairs: [string, string][] = [];
  for (const member of side.members) {
    pairs.push([member.client, `<client:${member.name}>`], [member.peer, `<peer:${member.name}>`]);
    for (const spelling of spellings(member.id)) pairs.push([spelling, `<id:${member.name}>`]);
  }
  for (const spelling of spellings(side.clusterId)) pairs.push([spelling, '<cluster-id>']);
  for (const [name, value] of side.vars) {
    const hex = /^[0-9a-f]+$/.test(value) && value.length >= 8;
    for (const spelling of hex ? spellings(BigInt(`0x${value}`)) : [value])
      pairs.push([spelling, `<${name}>`]);
  }
  pairs.sort((a, b) => b[0].length - a[0].length);
  return pairs.map(([value, placeholder]) => [word(value), placeholder] as const);
}

/** What etcdctl prints that changes from run to run whichever the cluster. */
function runRewrites(recipeNames: readonly string[]): Rewrite[] {
  const recipes = recipeNames.map(escaped).join('|');
  return [
    (text) => text.split('\n').map(stableLogLine).join('\n'),
    [/client-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'client-<uuid>'],
    // A retry warning names the member the balancer sent the call to.
    [/"target":"endpoint:\/\/client-<uuid>\/<client:n\d>"/g, '"target":"endpoint://client-<uuid>/<client>"'],
    // etcdctl prints member and cluster ids here with %16x: one of fewer hex digits is padded with spaces.
    [
      /^Member +(<[^>]+>) (added to|removed from|promoted in|updated in) cluster +</gm,
      'Member $1 $2 cluster <',
    ],
    // Which member answers a call is the client's pick.
    [/"member_id":<id:n\d>/g, '"member_id":<answering>'],
    [/"MemberID" : <id:n\d>/g, '"MemberID" : <answering>'],
    // Terms count elections, which each cluster holds on its own clock.
    [/"raft_term":\d+/g, '"raft_term":<term>'],
    [/"RaftTerm" : \d+/g, '"RaftTerm" : <term>'],
    [/took = [0-9.]+(?:ns|µs|ms|s)/g, 'took = <duration>'],
    [/"took":"[0-9.]+(?:ns|µs|ms|s)"/g, '"took":"<duration>"'],
    approximateTtls,
    // etcdctl's lock and elect hold NAME/<lease id in hex> with a lease they grant themselves.
    ...(recipes === ''
      ? []
      : [[new RegExp(`\\b(${recipes})/[0-9a-f]{1,16}\\b`, 'g'), '$1/<lease>'] as const]),
  ];
}

// Rewrites for a step's `compareAs`: orders that are etcd's own pick.

/**
 * The lines of stdout and of stderr, each in sorted order: etcd lists members
 * by their random ids, `endpoint health` in the order the answers came.
 */
export const sortedLines: Rewrite = (text) => {
  const sections: string[][] = [[]];
  for (const line of text.split('\n')) {
    if (line.startsWith('--- ')) sections.push([line]);
    else sections.at(-1)?.push(line);
  }
  return sections
    .map(([first = '', ...rest]) =>
      (first.startsWith('--- ') ? [first, ...rest.sort()] : [first, ...rest].sort()).join('\n'),
    )
    .join('\n');
};

/**
 * Sorts the items of the JSON array that starts right after `marker` (by
 * their text): etcd's member order is its random ids', endpoint health's
 * the order the answers came in.
 */
export function sortedArrayAfter(marker: string): Rewrite {
  return (text) => {
    const start = text.indexOf(marker);
    if (start < 0) return text;
    const open = start + marker.length;
    const items: string[] = [];
    let depth = 0;
    let inString = false;
    let itemStart = open;
    for (let i = open; i < text.length; i++) {
      const char = text[i];
      if (inString) {
        if (char === '\\') i++;
        else if (char === '"') inString = false;
      } else if (char === '"') inString = true;
      else if (char === '{' || char === '[') depth++;
      else if ((char === ',' && depth === 0) || ((char === ']' || char === '}') && depth === 0)) {
        items.push(text.slice(itemStart, i));
        if (char !== ',') return `${text.slice(0, open)}${items.sort().join(',')}${text.slice(i)}`;
        itemStart = i + 1;
      } else if (char === '}' || char === ']') depth--;
    }
    return text;
  };
}

/** Sorts the `name=url` entries of `ETCD_INITIAL_CLUSTER="..."` (etcd lists them in random-id order). */
export const sortedInitialCluster: Rewrite = (text) =>
  text.replace(
    /ETCD_INITIAL_CLUSTER="([^"]*)"/,
    (_all, list: string) => `ETCD_INITIAL_CLUSTER="${list.split(',').sort().join(',')}"`,
  );

/** Applies `rewrites` in order. */
export function rewrite(text: string, rewrites: readonly Rewrite[]): string {
  let result = text;
  for (const change of rewrites) {
    result = typeof change === 'function' ? change(result) : result.replace(change[0], change[1]);
  }
  return result;
}

/**
 * `text` as printed on `side`, with what is the side's own or the run's own
 * replaced by placeholders (`<client:n1>`, `<id:n2>`, `<cluster-id>`,
 * `<lease>`, `<term>`, `<duration>`, `remaining(~60s)`, ...).
 *
 * @param recipeNames the lock and election names the script uses (their keys end in a lease id).
 */
export function normalized(text: string, side: ComparedSide, recipeNames: readonly string[]): string {
  return rewrite(text, [...sideRewrites(side), ...runRewrites(recipeNames)]);
}
