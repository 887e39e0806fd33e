// The typed TypeScript client of Reelroom's wire contract: REST (`ReelroomClient`), the
// Socket.IO project rooms (`connectRooms`) and the Yjs documents (`openProjectDocument`).
export { ReelroomApiError } from './api-error.ts';
export type {
  OpenProjectDocumentOptions,
  ProjectDocument,
} from './project-document.ts';
export { openProjectDocument } from './project-document.ts';
export type { Page, ReelroomClientOptions, Tokens } from './rest-client.ts';
export { ReelroomClient } from './rest-client.ts';
export type { ConnectRoomsOptions, RoomListener, RoomSocket } from './rooms.ts';
export {
  connectRooms,
  isInRoom,
  joinProject,
  leaveProject,
  RoomError,
  sendChat,
  watchRooms,
} from './rooms.ts';
