import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  addFilesSharedWithMention,
  addSharedFile,
  sharedFileSource,
} from '../../src/capabilities/answers/add-shared-file.ts';
import { handleDocsCommand } from '../../src/capabilities/answers/docs-command.ts';
import type { DocsDependencies } from '../../src/capabilities/answers/docs-dependencies.ts';
import { parseDocsCommand } from '../../src/capabilities/answers/parse-docs-command.ts';
import { newestFileSharedBy, type SharedFile, sharedFilesOf } from '../../src/capabilities/answers/shared-files-of.ts';
import { UploaderStore } from '../../src/capabilities/answers/uploader-store.ts';
import type {
  IngestDocumentInput,
  IngestDocumentResult,
} from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import { rejectDocument } from '../../src/capabilities/documents/ingestion/safety.ts';
import { DeskhandError } from '../../src/errors.ts';
import type { AccessScope, DocumentSummary } from '../../src/ports/vector-index.ts';
import { fixturesDirectory } from '../support/fixtures.ts';

const prefix = `test:${randomUUID()}:`;
let redis: Redis;

before(() => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
});
after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

const access: AccessScope = { workspaceId: 'T1', channelId: 'C1' };

function summary(overrides: Partial<DocumentSummary> & Pick<DocumentSummary, 'documentId' | 'title'>): DocumentSummary {
  return {
    workspaceId: 'T1',
    scope: 'channel:C1',
    source: `https://files.example.com/${overrides.documentId}`,
    documentHash: 'h',
    chunkCount: 3,
    ingestedAt: '2026-11-01T10:00:00.000Z',
    ...overrides,
  };
}

/** An index holding summaries; listDocuments applies the same visibility rule as the adapters. */
function fakeIndex(documents: DocumentSummary[]) {
  const deleted: string[] = [];
  return {
    deleted,
    async listDocuments(scope: AccessScope) {
      return documents.filter(
        (document) =>
          document.workspaceId === scope.workspaceId &&
          !deleted.includes(document.documentId) &&
          (document.scope === 'workspace' || document.scope === `channel:${scope.channelId}`),
      );
    },
    async deleteDocument(_workspaceId: string, documentId: string) {
      deleted.push(documentId);
      return true;
    },
  };
}

function dependencies(overrides: Partial<DocsDependencies> & { documents?: DocumentSummary[] } = {}) {
  const ingested: IngestDocumentInput[] = [];
  const index = fakeIndex(overrides.documents ?? []);
  const fetched: { url: string; maxBytes: number }[] = [];
  const deps: DocsDependencies = {
    index,
    uploaders: new UploaderStore(redis, { keyPrefix: `${prefix}${randomUUID()}:` }),
    ingest: async (input, onProgress): Promise<IngestDocumentResult> => {
      ingested.push(input);
      onProgress({ stage: 'parsing', done: 1, total: 1 });
      onProgress({ stage: 'embedding', done: 2, total: 4 });
      return {
        kind: 'indexed',
        documentId: `doc-${input.fileName}`,
        chunkCount: 4,
        embeddedChunks: 4,
        cachedChunks: 0,
      };
    },
    fetchFile: async (url, maxBytes) => {
      fetched.push({ url, maxBytes });
      return new TextEncoder().encode('# Guide\n\nHello');
    },
    maxUploadBytes: 1024 * 1024,
    ...overrides,
  };
  return { deps, ingested, index, fetched };
}

const file: SharedFile = {
  id: 'F1',
  name: 'guide.md',
  mimetype: 'text/markdown',
  size: 20,
  urlPrivate: 'https://files.slack.com/files-pri/T1-F1/guide.md',
  permalink: 'https://acme.slack.com/files/U1/F1/guide.md',
};

describe('parseDocsCommand', () => {
  test('parses list, add, add workspace, forget with quotes, and rejects unknown words', () => {
    assert.deepEqual(parseDocsCommand(''), { action: 'list' });
    assert.deepEqual(parseDocsCommand('add'), { action: 'add', scope: 'channel' });
    assert.deepEqual(parseDocsCommand('add Workspace'), { action: 'add', scope: 'workspace' });
    assert.deepEqual(parseDocsCommand('forget "Refund policy"'), { action: 'forget', target: 'Refund policy' });
    assert.equal(parseDocsCommand('forget').action, 'help');
    assert.equal(parseDocsCommand('add everywhere').action, 'help');
    assert.equal(parseDocsCommand('explode').action, 'help');
  });
});

describe('/docs', () => {
  test('lists only documents the channel can see, with scope labels and ids', async () => {
    const { deps } = dependencies({
      documents: [
        summary({ documentId: 'd1', title: 'Refund policy' }),
        summary({ documentId: 'd2', title: 'Handbook', scope: 'workspace' }),
        summary({ documentId: 'd3', title: 'Secret plans', scope: 'channel:C2' }),
      ],
    });
    const reply = await handleDocsCommand({ access, userId: 'U0UPLOADER', isAdmin: false, text: '' }, deps);
    const json = JSON.stringify(reply);
    assert.equal(reply.visibility, 'ephemeral');
    assert.match(json, /Refund policy.*this channel/);
    assert.match(json, /Handbook.*all channels/);
    assert.doesNotMatch(json, /Secret plans/);
  });

  test('an empty channel is told how to add a document', async () => {
    const { deps } = dependencies();
    const reply = await handleDocsCommand({ access, userId: 'U0UPLOADER', isAdmin: false, text: 'list' }, deps);
    assert.match(reply.text, /no documents yet/);
  });
});

describe('/docs add', () => {
  test('downloads within the size limit, ingests into the channel’s scope with progress, and reports the result', async () => {
    const { deps, ingested, fetched } = dependencies();
    const progress: string[] = [];
    const { outcome, reply } = await addSharedFile(
      {
        access,
        userId: 'U0UPLOADER',
        isAdmin: false,
        file,
        scope: 'channel',
        onProgress: (text) => progress.push(text),
      },
      deps,
    );
    assert.equal(outcome.kind, 'added');
    assert.deepEqual(fetched, [{ url: file.urlPrivate, maxBytes: 1024 * 1024 }]);
    assert.equal(ingested[0]?.scope, 'channel:C1');
    assert.equal(ingested[0]?.workspaceId, 'T1');
    assert.equal(ingested[0]?.source, sharedFileSource(file, 'channel:C1'));
    assert.equal(progress.length, 2);
    assert.match(progress[0] ?? '', /Reading \*guide\.md\*/);
    assert.equal(progress[1], ':brain: Indexing *guide.md*: 2/4 chunks embedded…');
    assert.match(reply.text, /Added \*guide\.md\* in this channel’s documents \(4 sections\)/);
  });

  test('the same file added in two channels becomes two documents', () => {
    assert.notEqual(sharedFileSource(file, 'channel:C1'), sharedFileSource(file, 'channel:C2'));
    assert.ok(sharedFileSource(file, 'channel:C1').startsWith(file.permalink ?? ''));
  });

  test('a non-admin cannot add to the whole workspace; an admin can', async () => {
    const { deps, ingested } = dependencies();
    const refused = await addSharedFile(
      { access, userId: 'U0UPLOADER', isAdmin: false, file, scope: 'workspace' },
      deps,
    );
    assert.equal(refused.outcome.kind, 'rejected');
    assert.match(refused.reply.text, /only admins/);
    assert.equal(ingested.length, 0);
    const allowed = await addSharedFile({ access, userId: 'UADMIN', isAdmin: true, file, scope: 'workspace' }, deps);
    assert.equal(allowed.outcome.kind, 'added');
    assert.equal(ingested[0]?.scope, 'workspace');
  });

  test('a file Slack reports as too large is refused before downloading', async () => {
    const { deps, fetched } = dependencies();
    const { outcome, reply } = await addSharedFile(
      { access, userId: 'U0UPLOADER', isAdmin: false, file: { ...file, size: 50 * 1024 * 1024 }, scope: 'channel' },
      deps,
    );
    assert.equal(outcome.kind === 'rejected' && outcome.reason, 'too_large');
    assert.match(reply.text, /50\.0 MB and the limit is 1\.0 MB/);
    assert.equal(fetched.length, 0);
  });

  test('each ingestion refusal reaches the user with its specific message', async () => {
    for (const [reason, userMessage] of [
      ['encrypted_pdf', 'The PDF is password-protected; upload an unlocked copy.'],
      ['image_only_pdf', 'The PDF has no text layer (scanned images); upload a text version.'],
      ['zip_bomb', 'The DOCX expands to an unreasonable size.'],
      ['binary_content', 'The file looks like binary data, not a document.'],
      ['unsupported_format', 'Only Markdown, text, HTML, PDF and DOCX are supported.'],
      ['empty_document', 'The document has no text.'],
    ] as const) {
      const { deps } = dependencies({
        ingest: async () => {
          throw rejectDocument(reason, `refused: ${reason}`, userMessage);
        },
      });
      const { outcome, reply } = await addSharedFile(
        { access, userId: 'U0UPLOADER', isAdmin: false, file, scope: 'channel' },
        deps,
      );
      assert.equal(outcome.kind === 'rejected' && outcome.reason, reason);
      assert.ok(reply.text.includes(userMessage), `${reason}: ${reply.text}`);
    }
  });

  test('a failed download is reported, not thrown', async () => {
    const { deps } = dependencies({
      fetchFile: async () => {
        throw new DeskhandError('upstream_unavailable', 'socket hang up', { userMessage: 'Slack did not respond.' });
      },
    });
    const { outcome, reply } = await addSharedFile(
      { access, userId: 'U0UPLOADER', isAdmin: false, file, scope: 'channel' },
      deps,
    );
    assert.equal(outcome.kind, 'rejected');
    assert.match(reply.text, /could not download it from Slack \(Slack did not respond\.\)/);
  });

  test('a download refused because the file is not on Slack says so, without "try again"', async () => {
    const { deps } = dependencies({
      fetchFile: async () => {
        throw new DeskhandError('unsupported_input', 'download host refused', {
          userMessage: 'I can only download files from Slack.',
        });
      },
    });
    const { outcome, reply } = await addSharedFile(
      { access, userId: 'U0UPLOADER', isAdmin: false, file, scope: 'channel' },
      deps,
    );
    assert.equal(outcome.kind, 'rejected');
    assert.match(reply.text, /I can only download files from Slack\./);
    assert.doesNotMatch(reply.text, /try again/i);
  });

  test('/docs add without a shared file explains what to do', async () => {
    const { deps } = dependencies();
    const reply = await handleDocsCommand({ access, userId: 'U0UPLOADER', isAdmin: false, text: 'add' }, deps);
    assert.match(reply.text, /found no file to add/);
  });
});

describe('/docs forget', () => {
  test('the uploader can forget their document; another member cannot; an admin can', async () => {
    const { deps, index } = dependencies({
      documents: [
        summary({ documentId: 'doc-guide.md', title: 'Guide' }),
        summary({ documentId: 'd9', title: 'Pricing' }),
      ],
    });
    await addSharedFile({ access, userId: 'U0UPLOADER', isAdmin: false, file, scope: 'channel' }, deps);
    const stranger = await handleDocsCommand(
      { access, userId: 'U0STRANGER', isAdmin: false, text: 'forget guide' },
      deps,
    );
    assert.match(stranger.text, /Only an admin or the person who added/);
    assert.deepEqual(index.deleted, []);
    const uploader = await handleDocsCommand(
      { access, userId: 'U0UPLOADER', isAdmin: false, text: 'forget Guide' },
      deps,
    );
    assert.match(uploader.text, /<@U0UPLOADER> removed/);
    assert.deepEqual(index.deleted, ['doc-guide.md']);
    const admin = await handleDocsCommand({ access, userId: 'UADMIN', isAdmin: true, text: 'forget d9' }, deps);
    assert.match(admin.text, /removed/);
    assert.deepEqual(index.deleted, ['doc-guide.md', 'd9']);
  });

  test('a document of another channel cannot be forgotten from here', async () => {
    const { deps, index } = dependencies({
      documents: [summary({ documentId: 'd3', title: 'Secret plans', scope: 'channel:C2' })],
    });
    const reply = await handleDocsCommand(
      { access, userId: 'UADMIN', isAdmin: true, text: 'forget Secret plans' },
      deps,
    );
    assert.match(reply.text, /No document called/);
    assert.deepEqual(index.deleted, []);
  });

  test('an ambiguous title asks for the id', async () => {
    const { deps, index } = dependencies({
      documents: [summary({ documentId: 'a1', title: 'Guide v1' }), summary({ documentId: 'a2', title: 'Guide v2' })],
    });
    const reply = await handleDocsCommand({ access, userId: 'UADMIN', isAdmin: true, text: 'forget guide' }, deps);
    assert.match(reply.text, /Several documents match/);
    assert.deepEqual(index.deleted, []);
  });
});

describe('files shared in Slack', () => {
  const fixture = JSON.parse(
    readFileSync(
      `${fixturesDirectory}/slack/bolt-python-test-payloads/event_callback__message__file_share__test_message_file_share_L74.json`,
      'utf8',
    ),
  ) as { event: Record<string, unknown> };

  test('reads the files of a real file_share event, preferring the download URL', () => {
    assert.deepEqual(sharedFilesOf(fixture.event), [
      {
        id: 'F111',
        name: 'file.png',
        title: 'file.png',
        mimetype: 'image/png',
        size: 92582,
        urlPrivate: 'https://files.slack.com/files-pri/T111-F111/download/file.png',
        permalink: 'https://xxx.slack.com/files/U111/F111/file.png',
      },
    ]);
    assert.deepEqual(
      sharedFilesOf({ files: [{ id: 'F2', is_external: true, url_private: 'https://x.example/f' }] }),
      [],
    );
    assert.deepEqual(sharedFilesOf({ files: 'nope' }), []);
  });

  test('adds the files of a message that mentions Deskhand, and ignores one that does not', async () => {
    const { deps, ingested } = dependencies();
    const mentioned = { ...fixture.event, text: '<@U0DESKHAND> please index this' };
    const replies = await addFilesSharedWithMention(
      { access, userId: 'U0UPLOADER', isAdmin: false, event: mentioned, botUserId: 'U0DESKHAND' },
      deps,
    );
    assert.equal(replies.length, 1);
    assert.equal(ingested[0]?.fileName, 'file.png');
    assert.equal(ingested[0]?.scope, 'channel:C1');
    const quiet = await addFilesSharedWithMention(
      { access, userId: 'U0UPLOADER', isAdmin: false, event: fixture.event, botUserId: 'U0DESKHAND' },
      deps,
    );
    assert.deepEqual(quiet, []);
    assert.equal(ingested.length, 1);
  });

  test('/docs add picks the newest file the requester shared', () => {
    const file = (id: string) => ({ id, name: `${id}.md`, urlPrivate: `https://files.slack.com/${id}` });
    const chosen = newestFileSharedBy(
      [
        { ts: '1', user: 'U0UPLOADER', text: '', files: [file('F1')] },
        { ts: '2', user: 'U0UPLOADER', text: '', files: [file('F2'), file('F3')] },
        { ts: '3', user: 'U0STRANGER', text: '', files: [file('F4')] },
      ],
      'U0UPLOADER',
    );
    assert.equal(chosen?.id, 'F3');
    assert.equal(newestFileSharedBy([{ ts: '1', user: 'U0OTHER', text: 'hi' }], 'U0UPLOADER'), undefined);
  });
});
