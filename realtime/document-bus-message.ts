import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';

/** What a node publishes on a document's bus channel. */
export const DocumentBusMessageKind = {
  /** A Yjs update, already committed to the store by the publishing node. */
  Update: 0,
  /** An awareness update (y-protocols/awareness encoding). */
  Awareness: 1,
  /** "I just loaded this document: send me the awareness of your clients." */
  QueryAwareness: 2,
} as const;
export type DocumentBusMessageKind =
  (typeof DocumentBusMessageKind)[keyof typeof DocumentBusMessageKind];

export interface DocumentBusMessage {
  /** The publishing node, so that it can skip its own messages. */
  nodeId: string;
  kind: DocumentBusMessageKind;
  payload: Uint8Array;
}

/** Layout: varstring nodeId, varuint kind, varuint8array payload (lib0 encoding). */
export function encodeDocumentBusMessage(message: DocumentBusMessage): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarString(encoder, message.nodeId);
  encoding.writeVarUint(encoder, message.kind);
  encoding.writeVarUint8Array(encoder, message.payload);
  return encoding.toUint8Array(encoder);
}

/** Throws on a message that is not in the layout above. */
export function decodeDocumentBusMessage(bytes: Uint8Array): DocumentBusMessage {
  const decoder = decoding.createDecoder(bytes);
  const nodeId = decoding.readVarString(decoder);
  const kind = decoding.readVarUint(decoder);
  if (!Object.values(DocumentBusMessageKind).includes(kind as DocumentBusMessageKind)) {
    throw new Error(`unknown document bus message kind ${kind}`);
  }
  const payload = decoding.readVarUint8Array(decoder);
  return { nodeId, kind: kind as DocumentBusMessageKind, payload };
}
