/** The data model shared by the Raft core, its storage and its transport. Plain objects, msgpackr-encodable. */

export type NodeId = number;
/** No node: the vote is unset or the leader is unknown. Node ids are positive. */
export const NONE: NodeId = 0;

export const EntryType = { Normal: 0, Noop: 1 } as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  index: number;
  term: number;
  type: EntryType;
  /** The application's command, opaque to Raft. Empty for a leader's no-op. */
  data: Uint8Array;
}

export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

export interface Snapshot {
  /** Index and term of the last entry the state machine snapshot covers. */
  index: number;
  term: number;
  /** The application's state machine snapshot, opaque to Raft. */
  data: Uint8Array;
}

export const MessageType = {
  PreVote: 1,
  PreVoteResp: 2,
  Vote: 3,
  VoteResp: 4,
  Append: 5,
  AppendResp: 6,
  Heartbeat: 7,
  HeartbeatResp: 8,
  Snapshot: 9,
  /** A follower forwards proposals to the leader. */
  Propose: 10,
  /** A follower forwards a linearizable read to the leader. */
  ReadIndex: 11,
  ReadIndexResp: 12,
  /** Leadership transfer: the leader tells a caught-up follower to campaign now. */
  TimeoutNow: 13,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /** Append: index and term of the entry before `entries`. Vote: the candidate's last index and term. */
  index?: number;
  logTerm?: number;
  entries?: Entry[];
  commit?: number;
  reject?: boolean;
  /** AppendResp reject: the follower's guess of the last index that may match, for fast backtracking. */
  rejectHint?: number;
  snapshot?: Snapshot;
  /** ReadIndex request id, echoed through heartbeats and responses. */
  context?: string;
  /** A Vote asked for by the leader itself (leadership transfer): voters set their leader lease aside. */
  transfer?: boolean;
}

export interface ReadState {
  /** Applying up to this index makes a read linearizable. */
  index: number;
  context: string;
}

export interface Ready {
  /** Set when term, vote or commit changed; persist before sending `messagesToSend`. */
  hardState?: HardState;
  /** Received from the leader: persist it, drop the whole stored log, restore the state machine from it. */
  snapshotToApply?: Snapshot;
  /** Persist this snapshot and drop stored entries up to its index (set with `snapshotToApply` too). */
  snapshotToPersist?: Snapshot;
  /** Persist these; stored entries at or after the first one's index are replaced. */
  entriesToPersist: Entry[];
  messagesToSend: Message[];
  /** In index order, each exactly once; apply after persisting. */
  committedEntriesToApply: Entry[];
  readStatesReady: ReadState[];
}

export interface PersistedState {
  hardState: HardState;
  snapshot?: Snapshot;
  /** Contiguous, starting right after the snapshot (or at 1). */
  entries: Entry[];
}

const MESSAGE_TYPES = new Set<number>(Object.values(MessageType));
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function isEntry(e: unknown): e is Entry {
  const x = e as Entry;
  return typeof x === "object" && x !== null && isCount(x.index) && isCount(x.term) && (x.type === EntryType.Normal || x.type === EntryType.Noop) && x.data instanceof Uint8Array;
}

/** Shape check for a message from the network: a peer's bytes are input, and bad input is normal. */
export function isWellFormedMessage(m: unknown): m is Message {
  const x = m as Message;
  if (typeof x !== "object" || x === null) return false;
  if (!MESSAGE_TYPES.has(x.type) || !isCount(x.from) || x.from === NONE || !isCount(x.to) || !isCount(x.term)) return false;
  const optionalCount = (v: unknown) => v === undefined || isCount(v);
  if (!optionalCount(x.index) || !optionalCount(x.logTerm) || !optionalCount(x.commit) || !optionalCount(x.rejectHint)) return false;
  if (x.entries !== undefined && !(Array.isArray(x.entries) && x.entries.every(isEntry))) return false;
  if (x.context !== undefined && x.context !== null && typeof x.context !== "string") return false;
  if (x.transfer !== undefined && typeof x.transfer !== "boolean") return false;
  if (x.snapshot !== undefined) {
    const s = x.snapshot;
    if (typeof s !== "object" || s === null || !isCount(s.index) || !isCount(s.term) || !(s.data instanceof Uint8Array)) return false;
  }
  switch (x.type) {
    case MessageType.PreVote:
    case MessageType.Vote:
      return x.index !== undefined && x.logTerm !== undefined;
    case MessageType.Append:
      return x.index !== undefined && x.logTerm !== undefined && x.commit !== undefined;
    case MessageType.AppendResp:
      return x.reject ? x.index !== undefined && x.rejectHint !== undefined : true;
    case MessageType.Heartbeat:
      return x.commit !== undefined;
    case MessageType.Snapshot:
      return x.snapshot !== undefined;
    case MessageType.ReadIndex:
      return typeof x.context === "string";
    case MessageType.ReadIndexResp:
      return x.index !== undefined && typeof x.context === "string";
    default:
      return true;
  }
}

export const ROLE = { Follower: "follower", PreCandidate: "pre-candidate", Candidate: "candidate", Leader: "leader" } as const;
export type Role = (typeof ROLE)[keyof typeof ROLE];

export class RaftInvariantError extends Error {
  override name = "RaftInvariantError";
}

/** Stored or replicated data in a format this build cannot read: written by a newer build, or damaged. */
export class LogFormatError extends Error {
  override name = "LogFormatError";
}

/**
 * The format version that `what` carries (`stored`; undefined: the first, unversioned layout, version 1), if this
 * build reads it, that is 1 to `newest`; else LogFormatError naming `what` and the version.
 */
export function checkFormatVersion(stored: unknown, newest: number, what: string): number {
  const version = stored === undefined ? 1 : stored;
  if (!Number.isSafeInteger(version) || (version as number) < 1) {
    throw new LogFormatError(`${what} cannot be decoded: it carries no format version (versions 1 to ${newest} are known)`);
  }
  if ((version as number) > newest) throw new LogFormatError(`${what} has format version ${version}, newer than this build reads (1 to ${newest})`);
  return version as number;
}

/** Invariant check: a violated invariant is a bug, and a crash beats silently diverging state. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new RaftInvariantError(message);
}
