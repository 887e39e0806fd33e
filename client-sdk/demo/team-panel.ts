// The project page's Team region: who is in the project's workspace and with which role,
// the invitations still waiting for someone to sign up, and (for owners) inviting by email,
// changing roles, removing members and revoking invitations. Everyone else sees it read-only.
import type { Invitation, Member, Role } from '../../shared/workspaces.ts';
import { ROLES } from '../../shared/workspaces.ts';
import type { ReelroomClient } from '../rest-client.ts';
import { byId, el } from './dom.ts';
import { explainCaught } from './explain.ts';

export interface TeamPanelOptions {
  client: ReelroomClient;
  workspaceId: string;
  /** The signed-in member's role: owners manage the team, others only see it. */
  role: Role;
  /** The signed-in member, marked "you" in the list. */
  userId: string;
  /** Removes the panel's listeners when the project closes. */
  signal: AbortSignal;
  /** How often the list is read again while open, in ms. Default 15 000. */
  pollMs?: number;
}

export interface TeamPanel {
  /** Reads members and invitations again. */
  refresh(): Promise<void>;
}

const ROLE_HINTS: Record<Role, string> = {
  owner: 'manages the team and credits',
  editor: 'writes and makes videos',
  viewer: 'watches and reads',
};

export function openTeamPanel(options: TeamPanelOptions): TeamPanel {
  const { client, workspaceId, role, userId, signal } = options;
  const pollMs = options.pollMs ?? 15_000;
  const on = { signal };
  const owner = role === 'owner';
  const membersList = byId('team-members');
  const invitationsList = byId('team-invitations');
  const invitationsEmpty = byId('team-invitations-empty');
  const errorLine = byId('team-error');
  const readOnlyNote = byId('team-readonly');
  const form = byId<HTMLFormElement>('invite-form');
  const status = byId('invite-status');
  form.hidden = !owner;
  readOnlyNote.hidden = owner;
  status.textContent = '';
  errorLine.textContent = '';
  membersList.replaceChildren();
  invitationsList.replaceChildren();
  let closed = false;

  /** Runs an owner's change, then shows the team as the server has it. */
  const change = async (action: () => Promise<unknown>) => {
    errorLine.textContent = '';
    try {
      await action();
    } catch (caught) {
      errorLine.textContent = explainCaught(caught);
    }
    await refresh();
  };

  const memberItem = (member: Member, owners: number): HTMLElement => {
    const you = member.userId === userId;
    const name = `${member.name}${you ? ' (you)' : ''}`;
    const item = el(
      'li',
      { data: { userId: member.userId, role: member.role } },
      el(
        'span',
        { className: 'who' },
        el('span', { className: 'member-name', text: name }),
        el('span', { className: 'muted email', text: member.email }),
      ),
    );
    if (!owner) {
      item.append(
        el('span', {
          className: 'badge role',
          text: member.role,
          data: { hint: ROLE_HINTS[member.role] },
        }),
      );
      return item;
    }
    const select = el('select', { className: 'role' });
    select.setAttribute('aria-label', `Role of ${member.name}`);
    for (const each of ROLES) {
      const option = el('option', { text: `${each} · ${ROLE_HINTS[each]}` });
      option.value = each;
      option.selected = each === member.role;
      select.append(option);
    }
    // The last owner cannot step down (the server refuses it too, with `last_owner`).
    select.disabled = member.role === 'owner' && owners === 1;
    if (select.disabled) select.title = 'The only owner: make someone else an owner first.';
    select.addEventListener(
      'change',
      () =>
        void change(() =>
          client.workspaces.updateMember(workspaceId, member.userId, select.value as Role),
        ),
      on,
    );
    const remove = el('button', { className: 'secondary remove', text: you ? 'Leave' : 'Remove' });
    remove.type = 'button';
    remove.setAttribute('aria-label', you ? 'Leave the workspace' : `Remove ${member.name}`);
    remove.disabled = member.role === 'owner' && owners === 1;
    remove.addEventListener(
      'click',
      () => void change(() => client.workspaces.removeMember(workspaceId, member.userId)),
      on,
    );
    item.append(select, remove);
    return item;
  };

  const invitationItem = (invitation: Invitation): HTMLElement => {
    const item = el(
      'li',
      { data: { invitationId: invitation.id, role: invitation.role } },
      el(
        'span',
        { className: 'who' },
        el('span', { className: 'member-name', text: invitation.email }),
        el('span', {
          className: 'muted',
          text: `invited as ${invitation.role} · pending: joins when they sign up with this email`,
        }),
      ),
      el('span', { className: 'badge pending', text: 'pending' }),
    );
    if (owner) {
      const revoke = el('button', { className: 'secondary', text: 'Revoke' });
      revoke.type = 'button';
      revoke.setAttribute('aria-label', `Revoke the invitation of ${invitation.email}`);
      revoke.addEventListener(
        'click',
        () => void change(() => client.workspaces.revokeInvitation(workspaceId, invitation.id)),
        on,
      );
      item.append(revoke);
    }
    return item;
  };

  const refresh = async () => {
    try {
      const roster = await client.workspaces.roster(workspaceId);
      if (closed) return;
      const owners = roster.members.filter((m) => m.role === 'owner').length;
      membersList.replaceChildren(...roster.members.map((m) => memberItem(m, owners)));
      invitationsList.replaceChildren(...roster.invitations.map(invitationItem));
      invitationsEmpty.hidden = roster.invitations.length > 0;
    } catch (caught) {
      errorLine.textContent = `The team could not be read: ${explainCaught(caught)}`;
    }
  };

  form.addEventListener(
    'submit',
    async (event) => {
      event.preventDefault();
      const email = byId<HTMLInputElement>('invite-email');
      const inviteRole = byId<HTMLSelectElement>('invite-role').value as Role;
      status.textContent = '';
      try {
        const added = await client.workspaces.addMember(workspaceId, email.value, inviteRole);
        status.textContent =
          'member' in added
            ? `${added.member.name} joined as ${added.member.role}.`
            : `Invited ${added.invitation.email} as ${added.invitation.role}; they join when they sign up.`;
        email.value = '';
      } catch (caught) {
        status.textContent = explainCaught(caught);
      }
      await refresh();
    },
    on,
  );
  // Nobody tells this page when an invitee signs up (their invitation turns into a
  // membership) or another owner changes the team: read it again now and then, and on focus.
  const poll = setInterval(() => {
    if (!document.hidden) void refresh();
  }, pollMs);
  window.addEventListener('focus', () => void refresh(), on);
  signal.addEventListener('abort', () => {
    closed = true;
    clearInterval(poll);
  });

  void refresh();
  return { refresh };
}
