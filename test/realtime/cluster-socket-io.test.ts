// The Socket.IO hub on two real API node processes sharing Redis: handshake auth, membership
// checked joins, presence and room events across nodes, the Redis emitter other processes use,
// connection state recovery and per-socket rate limits.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  openRedisConnections,
  type RedisConnections,
  RedisRoomEmitter,
} from '../../realtime/index.ts';
import type { Session } from '../../shared/accounts.ts';
import type { PresenceUser, RenderProgressEvent } from '../../shared/socket-events.ts';
import { TEST_REDIS_URL } from '../support/services.ts';
import { ApiCluster, connectSocket, type Rest, type TestSocket } from './support/cluster.ts';

const WAIT = { timeout: 20_000, interval: 20 };

function progress(renderId: string, value: number): RenderProgressEvent {
  return { renderId, status: 'running', progress: value };
}

describe('Socket.IO hub on two API node processes (Redis streams adapter)', () => {
  let cluster: ApiCluster;
  let rest: Rest;
  let emitter: RedisRoomEmitter;
  let connections: RedisConnections | undefined;
  const sockets: TestSocket[] = [];

  const open = (...args: Parameters<typeof connectSocket>) => {
    const socket = connectSocket(...args);
    sockets.push(socket);
    return socket;
  };
  const connected = (socket: TestSocket) =>
    vi.waitFor(() => expect(socket.connected).toBe(true), WAIT);
  const nodeA = () => cluster.nodes[0]!;
  const nodeB = () => cluster.nodes[1]!;

  async function team(...roles: Array<'editor' | 'viewer'>) {
    const owner = await rest.signup('Owner');
    const { workspaceId, projectId } = await rest.project(owner);
    const members: Session[] = [];
    for (const [i, role] of roles.entries()) {
      const member = await rest.signup(`${role} ${i + 1}`);
      await rest.addMember(owner, workspaceId, member, role);
      members.push(member);
    }
    return { owner, workspaceId, projectId, members };
  }

  beforeAll(async () => {
    cluster = await ApiCluster.start(2);
    rest = cluster.rest;
    // What a render worker or the coach uses: no sockets, only Redis.
    connections = await openRedisConnections({ url: TEST_REDIS_URL, name: 'test emitter' });
    emitter = new RedisRoomEmitter({
      redis: connections.shared,
      keyPrefix: cluster.redisKeyPrefix,
    });
  });

  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.disconnect();
  });

  afterAll(async () => {
    await emitter?.close();
    await connections?.close();
    await cluster?.close();
  });

  it('refuses a handshake without a valid token', async () => {
    for (const token of ['', 'not-a-token']) {
      const socket = open(nodeA().url, token, { reconnection: false });
      const error = await new Promise<Error & { data?: unknown }>((resolve) =>
        socket.once('connect_error', resolve),
      );
      expect(error.data).toMatchObject({ code: 'unauthorized' });
      expect(socket.connected).toBe(false);
    }
  });

  it('joins members only; a non-member gets an error ack and none of the room events', async () => {
    const { owner, projectId } = await team();
    const stranger = await rest.signup('Stranger');
    const member = open(nodeA().url, owner.accessToken);
    const outsider = open(nodeB().url, stranger.accessToken);
    await Promise.all([connected(member), connected(outsider)]);

    expect(await member.emitWithAck('project:join', { projectId })).toEqual({ ok: true });
    expect(await outsider.emitWithAck('project:join', { projectId })).toEqual({
      error: { code: 'forbidden', message: expect.any(String) },
    });
    expect(await outsider.emitWithAck('project:join', { projectId: randomUUID() })).toMatchObject({
      error: { code: 'forbidden' },
    });
    expect(
      await outsider.emitWithAck('project:join', { nope: 1 } as unknown as { projectId: string }),
    ).toMatchObject({ error: { code: 'invalid_payload' } });

    const seenByOutsider: unknown[] = [];
    outsider.onAny((event, payload) => seenByOutsider.push([event, payload]));
    const seenByMember: RenderProgressEvent[] = [];
    member.on('render:progress', (event) => seenByMember.push(event));
    await emitter.emit(projectId, 'render:progress', progress('r1', 0.5));
    await vi.waitFor(() => expect(seenByMember).toEqual([progress('r1', 0.5)]), WAIT);
    expect(seenByOutsider).toEqual([]);
  });

  it('carries events emitted on node A (presence) and by the Redis emitter to clients on node B', async () => {
    const { owner, members, projectId } = await team('viewer');
    const onB = open(nodeB().url, members[0]!.accessToken);
    const onA = open(nodeA().url, owner.accessToken);
    await Promise.all([connected(onA), connected(onB)]);
    const presenceOnB: PresenceUser[][] = [];
    onB.on('presence', (event) => {
      if (event.projectId === projectId) presenceOnB.push(event.users);
    });
    expect(await onB.emitWithAck('project:join', { projectId })).toEqual({ ok: true });
    await vi.waitFor(() => expect(presenceOnB.at(-1)).toHaveLength(1), WAIT);

    // Node A emits the room's presence when the owner joins there.
    expect(await onA.emitWithAck('project:join', { projectId })).toEqual({ ok: true });
    await vi.waitFor(() => {
      const names = (presenceOnB.at(-1) ?? []).map((user) => user.name).sort();
      expect(names).toEqual(['Owner', 'viewer 1']);
    }, WAIT);

    // A process without sockets reaches both nodes' clients.
    const onBoth = [onA, onB].map((socket) => {
      const seen: RenderProgressEvent[] = [];
      socket.on('render:progress', (event) => seen.push(event));
      return seen;
    });
    for (let i = 1; i <= 3; i += 1)
      await emitter.emit(projectId, 'render:progress', progress('r', i / 4));
    await vi.waitFor(() => {
      for (const seen of onBoth)
        expect(seen.map((event) => event.progress)).toEqual([0.25, 0.5, 0.75]);
    }, WAIT);

    // Leaving updates everyone's presence.
    await onA.emitWithAck('project:leave', { projectId });
    await vi.waitFor(() => {
      expect((presenceOnB.at(-1) ?? []).map((user) => user.name)).toEqual(['viewer 1']);
    }, WAIT);
  });

  it('replays what a client missed while it was disconnected', async () => {
    const { owner, members, projectId } = await team('editor');
    // It comes back when the test says so (below), not on a timer a slow machine could outrun.
    const client = open(nodeB().url, members[0]!.accessToken, { reconnection: false });
    await connected(client);
    expect(await client.emitWithAck('project:join', { projectId })).toEqual({ ok: true });
    const received: RenderProgressEvent[] = [];
    client.on('render:progress', (event) => received.push(event));
    const presence: string[][] = [];
    client.on('presence', (event) => presence.push(event.users.map((user) => user.name).sort()));
    await emitter.emit(projectId, 'render:progress', progress('r', 0.1));
    await vi.waitFor(() => expect(received).toHaveLength(1), WAIT);

    // Drop the connection as a network blip would (not a client-side disconnect()).
    client.io.engine.close();
    await vi.waitFor(() => expect(client.connected).toBe(false), WAIT);

    // While it is away: room events from the emitter and a presence change from node A.
    await emitter.emit(projectId, 'render:progress', progress('r', 0.2));
    await emitter.emit(projectId, 'render:progress', progress('r', 0.3));
    const owners = open(nodeA().url, owner.accessToken);
    const presenceOfOwners: string[][] = [];
    owners.on('presence', (event) => {
      presenceOfOwners.push(event.users.map((user) => user.name).sort());
    });
    await connected(owners);
    expect(await owners.emitWithAck('project:join', { projectId })).toEqual({ ok: true });
    // Node B has seen the client go, and kept its session, once the room is the owner alone.
    await vi.waitFor(() => expect(presenceOfOwners.at(-1)).toEqual(['Owner']), WAIT);

    // Back, as its own reconnection would bring it: with the session id and last offset it had.
    client.connect();
    await vi.waitFor(() => expect(client.connected).toBe(true), WAIT);
    expect(client.recovered).toBe(true);
    await vi.waitFor(() => {
      expect(received.map((event) => event.progress)).toEqual([0.1, 0.2, 0.3]);
      expect(presence).toContainEqual(['Owner', 'editor 1']);
    }, WAIT);
    // Still in the room after recovery: later events arrive without a new join.
    await emitter.emit(projectId, 'render:progress', progress('r', 0.4));
    await vi.waitFor(() => expect(received).toHaveLength(4), WAIT);
  });

  it('disconnects the sockets of a member removed on another node', async () => {
    const { owner, workspaceId, members, projectId } = await team('editor');
    const socket = open(nodeB().url, members[0]!.accessToken);
    await connected(socket);
    expect(await socket.emitWithAck('project:join', { projectId })).toEqual({ ok: true });
    const reasons: string[] = [];
    socket.on('disconnect', (reason) => reasons.push(reason));
    await rest.removeMember(owner, workspaceId, members[0]!);
    await vi.waitFor(() => expect(reasons).toEqual(['io server disconnect']), WAIT);
  });

  it('rate-limits client events per socket and caps message size', async () => {
    const { owner, projectId } = await team();
    const socket = open(nodeA().url, owner.accessToken);
    await connected(socket);
    const answers = await Promise.all(
      Array.from({ length: 30 }, () => socket.emitWithAck('project:join', { projectId })),
    );
    const limited = answers.filter(
      (answer) => 'error' in answer && answer.error.code === 'rate_limited',
    );
    expect(limited.length).toBeGreaterThan(0);
    expect(answers.filter((answer) => 'ok' in answer).length).toBeGreaterThan(0);

    // Another socket has a budget of its own; an oversized message costs the sender its socket.
    const other = open(nodeA().url, owner.accessToken, { reconnection: false });
    await connected(other);
    const closed = new Promise<string>((resolve) => other.once('disconnect', resolve));
    other.emit('chat:send', { projectId, content: 'x'.repeat(200_000) });
    expect(await closed).toBe('transport close');
  });
});
