export { RealtimeAccess } from './realtime-access.ts';
export { YjsDocumentStore } from './yjs-document-store.ts';
