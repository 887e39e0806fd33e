// The project page's regions about the project's workspace rather than the project itself:
// Team, Credits and Publishing. Opened beside the project room, closed with it.
import type { Features } from '../../shared/features.ts';
import type { Project } from '../../shared/projects.ts';
import type { Role } from '../../shared/workspaces.ts';
import type { ReelroomClient } from '../rest-client.ts';
import type { RoomSocket } from '../rooms.ts';
import { openCreditsPanel } from './credits-panel.ts';
import { openPublishPanel } from './publish-panel.ts';
import { openTeamPanel } from './team-panel.ts';

export interface WorkspacePanelsOptions {
  client: ReelroomClient;
  socket: RoomSocket;
  project: Project;
  role: Role;
  /** The signed-in member's id. */
  userId: string;
  /** What the server has configured; unknown (the request failed) counts as nothing. */
  features: Features;
}

/** Opens Team, Credits and Publishing for the open project; returns what closes them. */
export function openWorkspacePanels(options: WorkspacePanelsOptions): () => void {
  const { client, socket, project, role, userId, features } = options;
  const listeners = new AbortController();
  const common = {
    client,
    workspaceId: project.workspaceId,
    role,
    signal: listeners.signal,
  };
  openTeamPanel({ ...common, userId });
  openCreditsPanel({ ...common, socket, projectId: project.id, payments: features.payments });
  openPublishPanel({ ...common, socket, projectId: project.id, configured: features.youtube });
  return () => listeners.abort();
}
