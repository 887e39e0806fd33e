import { z } from 'zod';
import { CloseCodes } from '../../shared/close-codes.ts';
import { chatMessageSchema, decisionSchema } from '../../shared/coach.ts';
import { jobStatusSchema } from '../../shared/job-status.ts';
import {
  type ClientToServerEvents,
  chatSendPayloadSchema,
  projectPayloadSchema,
  type ServerToClientEvents,
} from '../../shared/socket-events.ts';
import { PLAN_DECISIONS, PLAN_MAP, SCRIPT_TEXT, YJS_DOC_KINDS } from '../../shared/yjs-docs.ts';

type JsonSchema = Record<string, unknown>;

/** JSON Schema (draft-07, which AsyncAPI's default schema format extends) of a shared schema. */
const schemaOf = (schema: z.ZodType): JsonSchema => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: 'draft-7', io: 'input' });
  return rest;
};
const object = (properties: Record<string, JsonSchema>, required = Object.keys(properties)) => ({
  type: 'object',
  properties,
  required,
});
const errorSchema = object({ code: { type: 'string' }, message: { type: 'string' } });
const status = schemaOf(jobStatusSchema);
const progress = { type: 'number', minimum: 0, maximum: 1 };
const uuid = { type: 'string', format: 'uuid' };

interface EventDoc {
  summary: string;
  payload: JsonSchema;
  /** What the acknowledgement callback receives (client events with an ack). */
  ack?: JsonSchema;
}

/**
 * Every client event of `ClientToServerEvents`, and nothing else: the `Record` over the map's
 * keys makes a renamed, added or removed event a type error here.
 */
const CLIENT_EVENTS: Record<keyof ClientToServerEvents, EventDoc> = {
  'project:join': {
    summary: "Join a project's room; refused unless you are a member of its workspace",
    payload: schemaOf(projectPayloadSchema),
    ack: { oneOf: [object({ ok: { const: true } }), object({ error: errorSchema })] },
  },
  'project:leave': {
    summary: "Leave a project's room",
    payload: schemaOf(projectPayloadSchema),
    ack: { oneOf: [object({ ok: { const: true } }), object({ error: errorSchema })] },
  },
  'chat:send': {
    summary:
      'Send a message to the project chat; it comes back as chat:message and the coach reply streams as chat:token',
    payload: schemaOf(chatSendPayloadSchema),
    ack: { oneOf: [object({ messageId: uuid }), object({ error: errorSchema })] },
  },
};

/** Every event of `ServerToClientEvents`, sent to the room `project:<projectId>`. */
const SERVER_EVENTS: Record<keyof ServerToClientEvents, EventDoc> = {
  'render:progress': {
    summary:
      'A render moved: status, progress 0..1, and while running fps and ETA (at least twice a second)',
    payload: object(
      { renderId: uuid, status, progress, fps: { type: 'number' }, etaSeconds: { type: 'number' } },
      ['renderId', 'status', 'progress'],
    ),
  },
  'pipeline:progress': {
    summary: "A pipeline step's start, end, and progress at least once a second while it runs",
    payload: object(
      {
        runId: uuid,
        step: { type: 'string', enum: ['script', 'voiceover', 'thumbnail', 'render', 'publish'] },
        status,
        progress,
        message: { type: 'string' },
      },
      ['runId', 'step', 'status', 'progress'],
    ),
  },
  'chat:message': {
    summary: "A member's chat message, stored",
    payload: object({ message: schemaOf(chatMessageSchema) }),
  },
  'chat:token': {
    summary: "A piece of the coach's reply, in order; append `delta` to the reply `messageId`",
    payload: object({ messageId: uuid, delta: { type: 'string' } }),
  },
  'chat:done': {
    summary: "The coach's reply is complete and stored, with its token usage and cost",
    payload: object({
      messageId: uuid,
      usage: object({ inputTokens: { type: 'integer' }, outputTokens: { type: 'integer' } }),
      costUsd: { type: 'number' },
    }),
  },
  'chat:error': {
    summary: "The coach's reply failed (provider down, limit reached); the tokens so far stay",
    payload: object({ messageId: uuid, error: errorSchema }),
  },
  'decision:detected': {
    summary:
      "A decision stated in the chat, also written into the plan document's `decisions` (a newer one in its category supersedes the older)",
    payload: object({ decision: schemaOf(decisionSchema) }),
  },
  presence: {
    summary: "Who is in the project's room now",
    payload: object({
      projectId: uuid,
      users: { type: 'array', items: object({ userId: uuid, name: { type: 'string' } }) },
    }),
  },
  'project:deleted': {
    summary:
      'The project was deleted: the socket has left its room; joining again or chat:send to it is refused',
    payload: object({ projectId: uuid }),
  },
  'membership:changed': {
    summary:
      "The user's membership of a workspace changed (added, new role, removed: role null); sent to each of that user's sockets, joined to a project of it or not",
    payload: object({
      workspaceId: uuid,
      role: { type: ['string', 'null'], enum: ['owner', 'editor', 'viewer', null] },
    }),
  },
};

/** `project:join` -> `projectJoin`: AsyncAPI keys allow no colon. */
const keyOf = (event: string) => event.replace(/:(\w)/g, (_, c: string) => c.toUpperCase());

const YJS_DOCS: Record<(typeof YJS_DOC_KINDS)[number], string> = {
  script: `The video script: a Y.Text \`${SCRIPT_TEXT}\`. Scenes are separated by a line \`---\`; a first line \`# \` is the scene's title, other lines its narration, \`//\` lines are notes.`,
  plan: `The coach's plan: a Y.Map \`${PLAN_MAP}\` (phases with tasks and estimates) and a Y.Array \`${PLAN_DECISIONS}\` (the decisions detected in the chat).`,
};

const closeCodes = Object.entries(CloseCodes)
  .map(([name, code]) => `${code} ${name}`)
  .join(', ');

/**
 * The AsyncAPI 3.0 document of the realtime side: the Socket.IO events (payload schemas from
 * `shared/`, where a zod schema exists) and the two Yjs documents of a project. Served beside
 * `/openapi.json` as `/asyncapi.json`; a test checks its events against the shared event maps.
 */
export function buildAsyncApiDocument() {
  const messages: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const socketMessages: Record<string, unknown> = {};
  const roomMessages: Record<string, unknown> = {};
  const ackMessages: Record<string, unknown> = {};
  for (const [name, doc] of Object.entries<EventDoc>(CLIENT_EVENTS)) {
    const key = keyOf(name);
    messages[key] = { name, summary: doc.summary, payload: doc.payload };
    socketMessages[key] = { $ref: `#/components/messages/${key}` };
    operations[key] = {
      action: 'send',
      summary: doc.summary,
      channel: { $ref: '#/channels/socket' },
      messages: [{ $ref: `#/channels/socket/messages/${key}` }],
      ...(doc.ack && {
        reply: {
          channel: { $ref: '#/channels/ack' },
          messages: [{ $ref: `#/channels/ack/messages/${key}Ack` }],
        },
      }),
    };
    if (doc.ack) {
      messages[`${key}Ack`] = { title: `Ack of ${name}`, payload: doc.ack };
      ackMessages[`${key}Ack`] = { $ref: `#/components/messages/${key}Ack` };
    }
  }
  for (const [name, doc] of Object.entries<EventDoc>(SERVER_EVENTS)) {
    const key = keyOf(name);
    messages[key] = { name, summary: doc.summary, payload: doc.payload };
    roomMessages[key] = { $ref: `#/components/messages/${key}` };
    operations[key] = {
      action: 'receive',
      summary: doc.summary,
      channel: { $ref: '#/channels/projectRoom' },
      messages: [{ $ref: `#/channels/projectRoom/messages/${key}` }],
    };
  }
  const projectId = { description: 'The project id (a uuid)' };
  const yjsChannels = Object.fromEntries(
    YJS_DOC_KINDS.map((kind) => [
      `${kind}Document`,
      {
        address: `/yjs/project/{projectId}/${kind}`,
        title: `project/<projectId>/${kind}`,
        description: `${YJS_DOCS[kind]} Editors write; a viewer's updates are neither applied nor forwarded.`,
        servers: [{ $ref: '#/servers/yjs' }],
        parameters: { projectId },
        messages: {
          sync: { $ref: '#/components/messages/yjsSync' },
          awareness: { $ref: '#/components/messages/yjsAwareness' },
        },
        bindings: {
          ws: {
            query: object({ token: { type: 'string', description: 'The access token' } }),
          },
        },
      },
    ]),
  );
  for (const kind of YJS_DOC_KINDS) {
    for (const message of ['sync', 'awareness']) {
      operations[`${kind}${message === 'sync' ? 'Sync' : 'Awareness'}`] = {
        action: 'send',
        channel: { $ref: `#/channels/${kind}Document` },
        messages: [{ $ref: `#/channels/${kind}Document/messages/${message}` }],
      };
    }
  }
  messages.yjsSync = {
    title: 'y-websocket sync (message type 0)',
    summary: 'y-protocols sync: step 1 (state vector), step 2 (missing updates), update',
    contentType: 'application/octet-stream',
    payload: { type: 'string', format: 'binary' },
  };
  messages.yjsAwareness = {
    title: 'y-websocket awareness (message type 1)',
    summary: 'y-protocols awareness: who is here, their name, colour and cursor',
    contentType: 'application/octet-stream',
    payload: { type: 'string', format: 'binary' },
  };
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Reelroom realtime',
      version: '1.0.0',
      description:
        'The Socket.IO project rooms and the Yjs documents of Reelroom, on the same port as the REST API (see /openapi.json).',
    },
    defaultContentType: 'application/json',
    servers: {
      socketio: {
        host: 'localhost:8080',
        protocol: 'ws',
        pathname: '/socket.io',
        description:
          'Socket.IO (default path). The handshake carries `auth: {token}` with the access token; a bad token fails it.',
      },
      yjs: {
        host: 'localhost:8080',
        protocol: 'ws',
        pathname: '/yjs',
        description: `y-websocket protocol; connect with the stock \`WebsocketProvider(url + '/yjs', docName, doc, {params: {token}})\`. A refused connection is closed with a code of its own: ${closeCodes}.`,
      },
    },
    channels: {
      socket: {
        address: '/socket.io',
        title: 'Socket.IO connection',
        description:
          'Events a client emits; each with an ack answers `{error: {code, message}}` when refused.',
        servers: [{ $ref: '#/servers/socketio' }],
        messages: socketMessages,
      },
      projectRoom: {
        address: 'project:{projectId}',
        title: 'Project room',
        description: 'Events every member who joined the project receives.',
        servers: [{ $ref: '#/servers/socketio' }],
        parameters: { projectId },
        messages: roomMessages,
      },
      ack: {
        address: null,
        title: 'Acknowledgements',
        description: "The answer to a client event, passed to the emitter's ack callback.",
        servers: [{ $ref: '#/servers/socketio' }],
        messages: ackMessages,
      },
      ...yjsChannels,
    },
    operations,
    components: { messages },
  };
}

export type AsyncApiDocument = ReturnType<typeof buildAsyncApiDocument>;
