// Where each Reelroom client connects, with which user's token.
import type { DocumentPlan } from './protocol.ts';
import { createScriptDocuments, keepFresh, type ReelroomTeam, userFor } from './reelroom-api.ts';

const yjsUrl = (base: string) => `${base.replace('http', 'ws')}/yjs`;

/**
 * Fresh script documents with their clients spread over `nodes` (member m on node m mod N, so
 * with two nodes 3 clients of a document sit on one and 2 on the other).
 */
export async function scriptPlan(
  nodes: string[],
  team: ReelroomTeam,
  count: number,
  clientsPerDocument: number,
): Promise<DocumentPlan[]> {
  await keepFresh(nodes[0]!, team);
  const names = await createScriptDocuments(nodes[0]!, team, count);
  return names.map((docName, doc) => ({
    docName,
    clients: Array.from({ length: clientsPerDocument }, (_, member) => ({
      url: yjsUrl(nodes[member % nodes.length]!),
      node: member % nodes.length,
      token: userFor(team, doc, member).token,
    })),
  }));
}

/** One reader per document on `node`, the users taken in turn to stay under the per-user cap. */
export function readPlan(
  node: string,
  team: ReelroomTeam,
  documents: DocumentPlan[],
): DocumentPlan[] {
  return documents.map((doc, index) => ({
    docName: doc.docName,
    clients: [{ url: yjsUrl(node), node: 0, token: team.users[index % team.users.length]!.token }],
  }));
}
