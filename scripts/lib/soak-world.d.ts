// Types for soak-world.js (plain ESM JS, shared by scripts/soak.js and test/hardening).
import type { IncomingMessage, ServerResponse } from 'node:http';

export declare const PUBLIC_ORIGIN: string;
export declare const AUDIENCE: string;

export interface WorldPem {
  readonly certPem: string;
  readonly keyPem: string;
  readonly x5tS256: string;
}

export interface World {
  readonly dir: string;
  readonly pki: { readonly ca: WorldPem; readonly server: WorldPem; readonly client: WorldPem; readonly client2: WorldPem };
  readonly issuer: {
    readonly issuer: string;
    readonly jwksUri: string;
    readonly state: { jwksFetches: number };
    mint(claims?: Record<string, unknown>): Promise<string>;
  };
  readonly upstream: {
    readonly url: string;
    readonly port: number;
    readonly state: { complete: number; aborted: number; handler: ((req: IncomingMessage, res: ServerResponse, body: Buffer) => void) | undefined };
    /** Open upstream connections right now. */
    readonly open: number;
  };
  readonly configPath: string;
  readonly logPath: string;
  close(): Promise<void>;
}

export interface WorldOptions {
  readonly routes?: Record<string, unknown>[];
  readonly server?: Record<string, unknown>;
}

export function startWorld(opts?: WorldOptions): Promise<World>;

export function dpopKey(): Promise<{ readonly jkt: string; proof(htm: string, htu: string, token: string): Promise<string> }>;

export interface ChildSample {
  readonly at: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly fds: number;
  readonly handles: number;
  readonly replayEntries: number | null;
  /** The child was started with --expose-gc. */
  readonly gcAvailable: boolean;
}

export interface ChildGateway {
  readonly pid: number;
  readonly port: number;
  readonly adminPort: number | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly stderr: string;
  alive(): boolean;
  sample(): Promise<ChildSample>;
  /** Forces two full GCs in the child (started with --expose-gc), then samples. */
  gc(): Promise<ChildSample>;
  close(): Promise<void>;
}

export function startChildGateway(world: World, opts?: { exposeGc?: boolean; log?: boolean }): Promise<ChildGateway>;
