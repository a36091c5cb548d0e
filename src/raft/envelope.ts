/**
 * The data of a normal Raft entry as RaftNode lays it out: the proposer's incarnation, the proposals made in one
 * event-loop iteration ([sequence, command] each), and the layout's version. The version comes last so that a
 * reader of the first layout, which reads just the first two fields, reads entries written in it too; data of two
 * fields is that first layout, version 1. Bump ENVELOPE_VERSION when the layout changes, and keep reading the older
 * versions a stored log may hold.
 */
import { pack, unpack } from "msgpackr";
import { checkFormatVersion, LogFormatError } from "./types.ts";

export const ENVELOPE_VERSION = 1;

export type Proposal = [sequence: number, command: unknown];

export interface Envelope {
  proposer: string;
  proposals: Proposal[];
}

export function encodeEnvelope(proposer: string, proposals: Proposal[]): Uint8Array {
  return pack([proposer, proposals, ENVELOPE_VERSION]) as Uint8Array;
}

/** Reads the data of the normal entry at `index`; throws LogFormatError, naming the index and version, when it cannot. */
export function decodeEnvelope(data: Uint8Array, index: number): Envelope {
  let fields: unknown;
  try {
    fields = unpack(data);
  } catch (error) {
    throw new LogFormatError(`raft log entry ${index} cannot be decoded: ${String(error)}`);
  }
  if (!Array.isArray(fields) || fields.length < 2) throw new LogFormatError(`raft log entry ${index} cannot be decoded: it is not a proposals envelope`);
  const version = checkFormatVersion(fields.length === 2 ? undefined : fields.at(-1), ENVELOPE_VERSION, `raft log entry ${index}`);
  const [proposer, proposals] = fields as unknown[];
  if (fields.length > 3 || typeof proposer !== "string" || !Array.isArray(proposals) || !proposals.every(isProposal)) {
    throw new LogFormatError(`raft log entry ${index} cannot be decoded as format version ${version}`);
  }
  return { proposer, proposals };
}

function isProposal(proposal: unknown): proposal is Proposal {
  return Array.isArray(proposal) && proposal.length === 2 && Number.isSafeInteger(proposal[0]);
}
