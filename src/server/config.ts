/**
 * A member's configuration from flags, `TESSERA_*` environment variables
 * and a YAML or JSON file (in that order of precedence), validated with
 * errors that name the setting and its source.
 *
 * @module
 */
import { accessSync, constants, mkdirSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { InvalidArgumentError } from '../base/errors.ts';
import { type AutoCompaction, parseAutoCompaction } from '../kv/auto-compactor.ts';
import { checkMemberName } from './member.ts';
import { splitHostPort } from './serve.ts';
import { STATE_FREE_BYTES_MIN_DEFAULT } from './state.ts';

/** A member's settings, validated. */
export interface NodeConfig {
  readonly name: string;
  /** Directory for the WAL, snapshots and state. */
  readonly data: string;
  readonly listenPeer: string;
  readonly listenClient: string;
  readonly listenHttp: string;
  /** Where etcd's v3 gRPC API listens (`--listen-etcd`); undefined: it is not served. */
  readonly listenEtcd: string | undefined;
  /** Founding members: name → peer address. */
  readonly initialCluster: ReadonlyMap<string, string>;
  readonly initialClusterState: 'new' | 'existing';
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly snapshotEntries: number;
  /** Entries kept behind a snapshot for followers that are only a little behind. */
  readonly snapshotCatchupEntries: number;
  /** Least free space on the state's file system before a write (`LmdbStateOptions.freeBytesMin`; 0: no check). */
  readonly stateFreeBytesMin: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** History the leader keeps before compacting it (`--auto-compaction-mode`, `--auto-compaction-retention`). */
  readonly autoCompaction: AutoCompaction;
  /** Mutual TLS between members, when all three files are given: this member's certificate and key, and the CA that signs every member's. */
  readonly peerTls: PeerTls | undefined;
}

/** PEM contents for peer TLS. */
export interface PeerTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

/** Every setting: its kind, and its default (undefined: required). */
const SETTINGS = {
  name: { kind: 'string', default: undefined },
  data: { kind: 'string', default: undefined },
  listenPeer: { kind: 'address', default: '127.0.0.1:2380' },
  listenClient: { kind: 'address', default: '127.0.0.1:2379' },
  listenHttp: { kind: 'address', default: '127.0.0.1:2381' },
  listenEtcd: { kind: 'address', default: '' },
  initialCluster: { kind: 'string', default: '' },
  initialClusterState: { kind: 'string', default: 'new' },
  tickMs: { kind: 'integer', default: 100 },
  electionTicks: { kind: 'integer', default: 10 },
  snapshotEntries: { kind: 'integer', default: 100_000 },
  snapshotCatchupEntries: { kind: 'integer', default: 5000 },
  stateFreeBytesMin: { kind: 'integer', default: STATE_FREE_BYTES_MIN_DEFAULT },
  logLevel: { kind: 'string', default: 'info' },
  autoCompactionMode: { kind: 'string', default: 'periodic' },
  autoCompactionRetention: { kind: 'string', default: '1h' },
  peerCert: { kind: 'string', default: '' },
  peerKey: { kind: 'string', default: '' },
  peerCa: { kind: 'string', default: '' },
} as const;

type SettingName = keyof typeof SETTINGS;
type RawSettings = Partial<Record<SettingName, unknown>>;

const NAMES = Object.keys(SETTINGS) as SettingName[];

/** `listenPeer` → `TESSERA_LISTEN_PEER`. */
export function envName(setting: string): string {
  return `TESSERA_${setting.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** `listenPeer` → `--listen-peer`. */
export function flagName(setting: string): string {
  return `--${setting.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function readFile(path: string): RawSettings {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError(`Cannot read config file ${path}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new InvalidArgumentError(`Cannot parse config file ${path}: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError(`Config file ${path} must hold an object of settings`);
  }
  for (const key of Object.keys(value)) {
    if (!NAMES.includes(key as SettingName)) {
      throw new InvalidArgumentError(
        `Unknown setting ${JSON.stringify(key)} in ${path}; known: ${NAMES.join(', ')}`,
      );
    }
  }
  return value as RawSettings;
}

function fromEnv(env: NodeJS.ProcessEnv): RawSettings {
  const out: RawSettings = {};
  for (const name of NAMES) {
    const value = env[envName(name)];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/**
 * Resolves a member's configuration.
 *
 * @throws {InvalidArgumentError} naming the setting and where it came from
 *   (flag, environment variable or file) when a value is missing or bad,
 *   a file has an unknown key, or the data directory cannot be written.
 */
export function resolveConfig(sources: {
  flags: RawSettings;
  env?: NodeJS.ProcessEnv;
  file?: string;
}): NodeConfig {
  const file = sources.file === undefined ? {} : readFile(sources.file);
  const env = fromEnv(sources.env ?? {});
  const value = (name: SettingName): { value: unknown; source: string } => {
    if (sources.flags[name] !== undefined) return { value: sources.flags[name], source: flagName(name) };
    if (env[name] !== undefined) return { value: env[name], source: envName(name) };
    if (file[name] !== undefined) return { value: file[name], source: `${name} in ${sources.file}` };
    const fallback = SETTINGS[name].default;
    if (fallback === undefined) {
      throw new InvalidArgumentError(
        `Missing setting: give ${flagName(name)} (or ${envName(name)}, or ${name} in a config file)`,
      );
    }
    return { value: fallback, source: `the default of ${name}` };
  };
  const string = (name: SettingName): string => {
    const { value: v, source } = value(name);
    if (typeof v !== 'string' && typeof v !== 'number')
      throw new InvalidArgumentError(`${source} must be a string`);
    return String(v);
  };
  const integer = (name: SettingName, min: number, max: number): number => {
    const { value: v, source } = value(name);
    const n = typeof v === 'number' ? v : Number(v);
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(
        `${source} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`,
      );
    }
    return n;
  };
  const address = (name: SettingName): string => {
    const text = string(name);
    try {
      const [, port] = splitHostPort(text);
      if (port === 0) throw new RangeError('port 0 is not allowed: other members must know the port');
    } catch (error) {
      throw new InvalidArgumentError(`${value(name).source}: ${(error as Error).message}`);
    }
    return text;
  };
  const oneOf = <T extends string>(name: SettingName, allowed: readonly T[]): T => {
    const text = string(name);
    if (!allowed.includes(text as T)) {
      throw new InvalidArgumentError(
        `${value(name).source} must be one of ${allowed.join(', ')}, got ${JSON.stringify(text)}`,
      );
    }
    return text as T;
  };

  const autoCompaction = (): AutoCompaction => {
    try {
      return parseAutoCompaction(string('autoCompactionMode'), string('autoCompactionRetention'));
    } catch (error) {
      throw new InvalidArgumentError(
        `${value('autoCompactionMode').source} / ${value('autoCompactionRetention').source}: ${(error as Error).message}`,
      );
    }
  };

  const name = checkMemberName(string('name'));
  const listenPeer = address('listenPeer');
  const initialCluster = parseInitialCluster(string('initialCluster') || `${name}=${listenPeer}`);
  const initialClusterState = oneOf('initialClusterState', ['new', 'existing'] as const);
  if (initialClusterState === 'new' && initialCluster.get(name) !== listenPeer) {
    throw new InvalidArgumentError(
      `--initial-cluster must name this member (${name}=${listenPeer}), got ${[...initialCluster].map(([n, a]) => `${n}=${a}`).join(',')}`,
    );
  }
  const data = string('data');
  try {
    mkdirSync(data, { recursive: true });
    accessSync(data, constants.W_OK | constants.R_OK);
  } catch (error) {
    throw new InvalidArgumentError(
      `${value('data').source}: cannot use data directory ${data}: ${(error as Error).message}`,
    );
  }
  const electionTicks = integer('electionTicks', 3, 1000);
  const tlsFiles = { cert: string('peerCert'), key: string('peerKey'), ca: string('peerCa') };
  const given = Object.values(tlsFiles).filter((path) => path !== '').length;
  if (given !== 0 && given !== 3) {
    throw new InvalidArgumentError('Peer TLS needs all of --peer-cert, --peer-key and --peer-ca, or none');
  }
  const readPem = (setting: 'peerCert' | 'peerKey' | 'peerCa', path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new InvalidArgumentError(
        `${value(setting).source}: cannot read ${path}: ${(error as Error).message}`,
      );
    }
  };
  const peerTls =
    given === 0
      ? undefined
      : {
          cert: readPem('peerCert', tlsFiles.cert),
          key: readPem('peerKey', tlsFiles.key),
          ca: readPem('peerCa', tlsFiles.ca),
        };
  return {
    peerTls,
    name,
    data,
    listenPeer,
    listenClient: address('listenClient'),
    listenHttp: address('listenHttp'),
    listenEtcd: string('listenEtcd') === '' ? undefined : address('listenEtcd'),
    initialCluster,
    initialClusterState,
    tickMs: integer('tickMs', 1, 10_000),
    electionTicks,
    snapshotEntries: integer('snapshotEntries', 10, 100_000_000),
    snapshotCatchupEntries: integer('snapshotCatchupEntries', 0, 100_000_000),
    stateFreeBytesMin: integer('stateFreeBytesMin', 0, Number.MAX_SAFE_INTEGER),
    logLevel: oneOf('logLevel', ['debug', 'info', 'warn', 'error'] as const),
    autoCompaction: autoCompaction(),
  };
}

/**
 * Parses `n1=127.0.0.1:2380,n2=...`.
 *
 * @throws {InvalidArgumentError} on a malformed entry or a repeated name.
 */
export function parseInitialCluster(text: string): Map<string, string> {
  const members = new Map<string, string>();
  for (const part of text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0)
      throw new InvalidArgumentError(
        `Bad --initial-cluster entry ${JSON.stringify(part)}: expected name=host:port`,
      );
    const name = checkMemberName(part.slice(0, eq));
    const address = part.slice(eq + 1);
    try {
      splitHostPort(address);
    } catch (error) {
      throw new InvalidArgumentError(
        `Bad --initial-cluster entry ${JSON.stringify(part)}: ${(error as Error).message}`,
      );
    }
    if (members.has(name)) throw new InvalidArgumentError(`--initial-cluster names ${name} twice`);
    members.set(name, address);
  }
  return members;
}
