// The typed TypeScript client of Reelroom's wire contract. REST today; the Socket.IO and Yjs
// helpers join as the realtime parts land.
export { ReelroomApiError } from './api-error.ts';
export type { Page, ReelroomClientOptions, Tokens } from './rest-client.ts';
export { ReelroomClient } from './rest-client.ts';
