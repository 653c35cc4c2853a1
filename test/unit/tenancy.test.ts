import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { App } from '@slack/bolt';
import type { ListenerDependencies } from '../../src/slack/listeners/dependencies.ts';
import { ignoredBecause, register as registerEvents } from '../../src/slack/listeners/events.ts';
import { identityFromAuthTest, installationOf, tenantOf } from '../../src/slack/tenancy.ts';
import { fixturesDirectory } from '../support/fixtures.ts';

const fixtures = `${fixturesDirectory}/slack/bolt-python-test-payloads`;
const load = (name: string) => JSON.parse(readFileSync(`${fixtures}/${name}`, 'utf8')) as Record<string, unknown>;

describe('tenantOf', () => {
  test('a shared-channel event from another organisation belongs to the installation, not the envelope team', () => {
    const body = load('event_callback__reaction_added__test_events_shared_channels_L137.json');
    assert.equal(body.team_id, 'T_SOURCE');
    assert.equal(tenantOf(body), 'T_INSTALLED');
  });

  test('a foreign user’s mention in a Slack Connect channel belongs to the host, whatever team it names', () => {
    const body = load('event_callback__app_mention__test_events_shared_channels_L60.json');
    const event = body.event as Record<string, unknown>;
    // The mentioning user W222 is from another organisation: its team is on the envelope and the event.
    const foreign = {
      ...body,
      team_id: 'T_FOREIGN',
      enterprise_id: 'E_FOREIGN',
      event: { ...event, team: 'T_FOREIGN', user_team: 'T_FOREIGN', source_team: 'T_FOREIGN' },
    };
    assert.equal(tenantOf(foreign), 'T_INSTALLED');
    assert.equal(tenantOf({ ...foreign, context_team_id: 'T_INSTALLED' }), 'T_INSTALLED');
  });

  test('a modal opened from a Slack Connect channel is the installation’s, not the submitter’s team', () => {
    const body = load('view_submission__test_view_submission_L17.json');
    const view = body.view as Record<string, unknown>;
    assert.equal(tenantOf(body), 'T111');
    const foreign = {
      ...body,
      team: { id: 'T_FOREIGN', domain: 'foreign', enterprise_id: null },
      user: { id: 'W222', team_id: 'T_FOREIGN' },
      view: { ...view, team_id: 'T_FOREIGN', app_installed_team_id: 'T_HOST' },
    };
    assert.equal(tenantOf(foreign), 'T_HOST');
  });

  test('context_team_id wins over the envelope and the authorizations', () => {
    const body = {
      ...load('event_callback__app_mention__test_events_shared_channels_L60.json'),
      context_team_id: 'T_CONTEXT',
    };
    assert.equal(tenantOf(body), 'T_CONTEXT');
  });

  test('an org-wide installation is one tenant: the enterprise', () => {
    const body = {
      team_id: 'T1',
      context_enterprise_id: 'E1',
      authorizations: [{ team_id: null, enterprise_id: 'E1', is_enterprise_install: true }],
    };
    assert.equal(tenantOf(body), 'E1');
  });

  test('interactions use the team of the payload', () => {
    assert.equal(tenantOf(load('block_actions__test_block_actions_L161.json')), 'T111');
  });

  test('a payload without any team has no tenant', () => {
    assert.equal(tenantOf({ type: 'event_callback' }), undefined);
    assert.equal(tenantOf(null), undefined);
  });
});

describe('the workspace a foreign user’s request is charged to', () => {
  test('a mention by a Slack Connect guest is handed to the router as the host tenant’s request', async () => {
    const handlers = new Map<string, (args: Record<string, unknown>) => Promise<void>>();
    const app = {
      event: (name: string, handler: (args: Record<string, unknown>) => Promise<void>) => handlers.set(name, handler),
    } as unknown as App;
    const dispatched: Array<{ request: { workspaceId: string; userId: string } }> = [];
    const dependencies = {
      durable: {
        dispatch: async (_id: string, _name: string, unit: (typeof dispatched)[number]) => {
          dispatched.push(unit);
        },
      },
      logger: { debug: () => {} },
      identity: () => ({ botUserId: 'W111' }),
      ticketReaction: 'ticket',
    } as unknown as ListenerDependencies;
    registerEvents(app, dependencies);
    const body = load('event_callback__app_mention__test_events_shared_channels_L60.json');
    const event = { ...(body.event as Record<string, unknown>), user_team: 'T_FOREIGN', source_team: 'T_FOREIGN' };
    const foreign = { ...body, team_id: 'T_FOREIGN', enterprise_id: 'E_FOREIGN', event };
    await handlers.get('app_mention')?.({ event, body: foreign, context: { botUserId: 'W111' } });
    assert.equal(dispatched.length, 1);
    // The router's workspaceId is the scope of the budget reservation and the response-cache key.
    assert.equal(dispatched[0]?.request.workspaceId, 'T_INSTALLED');
    assert.equal(dispatched[0]?.request.userId, 'W222');
  });
});

describe('which messages may start work', () => {
  const event = (name: string) => load(name).event as Parameters<typeof ignoredBecause>[0];

  test('edits, deletions, thread broadcasts and bot messages never start work; a person’s mention does', () => {
    assert.match(
      ignoredBecause(event('event_callback__message__message_changed__test_message_changed_L68.json'), 'UBOT') ?? '',
      /message_changed/,
    );
    assert.match(
      ignoredBecause(event('event_callback__message__message_deleted__test_message_deleted_L68.json'), 'UBOT') ?? '',
      /message_deleted/,
    );
    assert.match(
      ignoredBecause(
        event('event_callback__message__thread_broadcast__in_thread__test_message_thread_broadcast_L74.json'),
        'UBOT',
      ) ?? '',
      /thread_broadcast/,
    );
    assert.ok(ignoredBecause(event('event_callback__message__bot_message__test_message_bot_L173.json'), 'UBOT'));
    // A modern bot (a user id plus bot_id/bot_profile) and a person mentioning Deskhand.
    assert.equal(ignoredBecause(event('event_callback__message__test_message_bot_L128.json'), 'UBOT'), 'bot message');
    assert.equal(ignoredBecause(event('event_callback__app_mention__test_app_bot_only_L119.json'), 'UBOT'), undefined);
  });

  test('Deskhand’s own messages never start work, a person’s message and a file share may', () => {
    const person = event('event_callback__message__test_message_L208.json');
    assert.equal(ignoredBecause(person, 'UBOT'), undefined);
    assert.equal(ignoredBecause({ ...person, user: 'UBOT' }, 'UBOT'), 'own message');
    assert.equal(
      ignoredBecause(event('event_callback__message__file_share__test_message_file_share_L74.json'), 'UBOT'),
      undefined,
    );
  });
});

describe('tenantOf with the installation the app runs as (single-token mode)', () => {
  const host = { teamId: 'T_HOST' };

  test('a guest organisation’s button click belongs to the installation, not the clicker’s team', () => {
    const click = load('block_actions__test_block_actions_L161.json');
    const foreign = {
      ...click,
      team: { id: 'T_FOREIGN', domain: 'foreign' },
      user: { id: 'W_GUEST', team_id: 'T_FOREIGN' },
      enterprise: { id: 'E_FOREIGN', name: 'Foreign' },
    };
    assert.equal(tenantOf(foreign), 'T_FOREIGN', 'the payload alone names only the guest');
    assert.equal(tenantOf(foreign, host), 'T_HOST');
  });

  test('a guest’s slash command and message shortcut belong to the installation', () => {
    assert.equal(tenantOf({ team_id: 'T_FOREIGN', enterprise_id: 'E_FOREIGN', user_id: 'W_GUEST' }, host), 'T_HOST');
    assert.equal(
      tenantOf({ type: 'message_action', team: { id: 'T_FOREIGN' }, user: { team_id: 'T_FOREIGN' } }, host),
      'T_HOST',
    );
  });

  test('an org-wide install is the enterprise, whatever the guest’s enterprise', () => {
    const orgWide = { enterpriseId: 'E_HOST', isEnterpriseInstall: true };
    assert.equal(tenantOf({ team: { id: 'T_FOREIGN', enterprise_id: 'E_FOREIGN' } }, orgWide), 'E_HOST');
    assert.equal(tenantOf(undefined, orgWide), 'E_HOST');
  });

  test('the fields Slack sends about the installation still come first', () => {
    const event = load('event_callback__reaction_added__test_events_shared_channels_L137.json');
    assert.equal(tenantOf(event, host), 'T_INSTALLED', 'authorizations');
    assert.equal(tenantOf({ team_id: 'T_FOREIGN', context_team_id: 'T_CONTEXT' }, host), 'T_CONTEXT');
    assert.equal(tenantOf({ team: { id: 'T_FOREIGN' }, view: { app_installed_team_id: 'T_VIEW' } }, host), 'T_VIEW');
  });

  test('without a known installation the envelope decides, as before', () => {
    assert.equal(tenantOf({ team_id: 'T_FOREIGN' }, {}), 'T_FOREIGN');
    assert.equal(tenantOf(null), undefined);
  });
});

describe('the installation a request is charged to', () => {
  test('auth.test’s team and enterprise are kept with the bot ids (single-token mode)', () => {
    const identity = identityFromAuthTest({
      ok: true,
      url: 'https://host.slack.com/',
      team: 'Host',
      user: 'deskhand',
      team_id: 'T_HOST',
      user_id: 'U_BOT',
      bot_id: 'B_BOT',
      enterprise_id: 'E_HOST',
      is_enterprise_install: false,
    } as Parameters<typeof identityFromAuthTest>[0]);
    assert.deepEqual(identity, {
      botUserId: 'U_BOT',
      botId: 'B_BOT',
      teamId: 'T_HOST',
      enterpriseId: 'E_HOST',
      isEnterpriseInstall: false,
    });
    assert.equal(tenantOf({ team: { id: 'T_GUEST' }, user: { team_id: 'T_GUEST' } }, identity), 'T_HOST');
  });

  test('OAuth mode: the installation Bolt authorised wins over the empty start-up identity', () => {
    const installation = installationOf({ teamId: 'T_B', isEnterpriseInstall: false }, {});
    assert.equal(tenantOf({ team: { id: 'T_GUEST' }, user: { team_id: 'T_GUEST' } }, installation), 'T_B');
    const orgWide = installationOf({ teamId: 'T_A1', enterpriseId: 'E_ORG', isEnterpriseInstall: true }, {});
    assert.equal(tenantOf({ team_id: 'T_A1' }, orgWide), 'E_ORG');
  });

  test('without an authorised installation in the context, the app’s own one is used', () => {
    const host = { teamId: 'T_HOST' };
    assert.equal(installationOf(undefined, host), host);
    assert.equal(installationOf({}, host), host);
  });
});
