/**
 * The 👎 reason picker's pure parts: the modal within Block Kit's limits, the submission's validation (one specific
 * error per field, bounded on hostile input), the metadata; the export line parser; and the replay's verdicts
 * (kept, moved, lost, no citations) with its de-duplication, workspace filter and access scope.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RetrieveRequest } from '../../src/capabilities/answers/answer-source.ts';
import { parseFeedbackLine, type ReplayableFeedback } from '../../src/capabilities/answers/feedback-export.ts';
import {
  buildReasonModal,
  feedbackReasons,
  maxReasonTextLength,
  parseReasonMetadata,
  parseReasonSubmission,
  reasonMessageModal,
} from '../../src/capabilities/answers/feedback-reason.ts';
import {
  compareCitations,
  countResult,
  emptyTotals,
  replayFeedback,
} from '../../src/capabilities/answers/feedback-replay.ts';
import { answerReasonBlockIds, answerReasonInputActionId } from '../../src/slack-kit/answer-ids.ts';
import { checkView } from '../fakes/slack-limits.ts';

const values = (reason: string | undefined, text: string | undefined) => ({
  [answerReasonBlockIds.reason]: {
    [answerReasonInputActionId]: {
      type: 'radio_buttons',
      selected_option: reason === undefined ? null : { value: reason },
    },
  },
  [answerReasonBlockIds.text]: { [answerReasonInputActionId]: { type: 'plain_text_input', value: text ?? null } },
});

describe('the reason picker', () => {
  test('stays within Block Kit limits, empty and pre-filled with the longest note', () => {
    const answerId = '0f8fad5b-d9cb-469f-a165-70867728950e';
    for (const view of [
      buildReasonModal({ answerId }),
      buildReasonModal({ answerId }, { reason: 'other', text: 'é'.repeat(maxReasonTextLength) }),
      buildReasonModal({ answerId: 'x'.repeat(5000) }),
      reasonMessageModal('y'.repeat(10_000)),
    ]) {
      assert.equal(checkView(view), undefined, JSON.stringify(checkView(view)));
    }
    const view = buildReasonModal({ answerId }, { reason: 'outdated' }) as { blocks: Record<string, unknown>[] };
    const radio = view.blocks[1]?.element as { options: { value: string }[]; initial_option?: { value: string } };
    assert.deepEqual(
      radio.options.map((option) => option.value),
      [...feedbackReasons],
    );
    assert.equal(radio.initial_option?.value, 'outdated');
    assert.deepEqual(parseReasonMetadata(String((view as Record<string, unknown>).private_metadata)), { answerId });
  });

  test('a valid submission: the reason and the trimmed note; an empty note is left out', () => {
    assert.deepEqual(parseReasonSubmission(values('outdated', '  Now 10 days.  ')), {
      ok: true,
      given: { reason: 'outdated', text: 'Now 10 days.' },
    });
    assert.deepEqual(parseReasonSubmission(values('missing_source', '   ')), {
      ok: true,
      given: { reason: 'missing_source' },
    });
    assert.deepEqual(parseReasonSubmission(values('wrong', undefined)), { ok: true, given: { reason: 'wrong' } });
  });

  test('each bad field gets its own error', () => {
    const none = parseReasonSubmission(values(undefined, 'x'));
    assert.deepEqual(none, { ok: false, errors: { [answerReasonBlockIds.reason]: 'Pick one of the reasons.' } });
    const forged = parseReasonSubmission(values('delete_everything', 'x'));
    assert.equal(forged.ok, false);
    const other = parseReasonSubmission(values('other', ' '));
    assert.deepEqual(other, {
      ok: false,
      errors: { [answerReasonBlockIds.text]: 'Say in a few words what was wrong (needed for “Other”).' },
    });
    const long = parseReasonSubmission(values(undefined, 'z'.repeat(maxReasonTextLength + 1)));
    assert.deepEqual(Object.keys(long.ok ? {} : long.errors).sort(), [
      answerReasonBlockIds.reason,
      answerReasonBlockIds.text,
    ]);
    assert.equal(parseReasonSubmission({}).ok, false, 'no values at all');
  });

  test('a hostile note of a million characters is refused quickly with its length', () => {
    const started = performance.now();
    const result = parseReasonSubmission(values('wrong', ' '.repeat(500_000) + 'a'.repeat(500_000)));
    assert.ok(performance.now() - started < 200);
    assert.match(
      result.ok ? '' : (result.errors[answerReasonBlockIds.text] ?? ''),
      /500 characters \(it has 1000000\)/,
    );
  });

  test('metadata that is not ours is refused', () => {
    for (const raw of ['', 'not json', '{"answerId":3}', '[]', 'null', `{"answerId":"${'a'.repeat(4000)}"}`]) {
      assert.equal(parseReasonMetadata(raw), undefined, raw.slice(0, 40));
    }
  });
});

const row = (overrides: Partial<ReplayableFeedback> = {}): ReplayableFeedback => ({
  workspace: 'T1',
  channel: 'C1',
  answerId: 'a1',
  question: 'Refunds?',
  standaloneQuestion: 'How long do refunds take?',
  vote: 'helpful',
  cited: [{ documentId: 'refunds', title: 'Refund policy', chunkIds: ['refunds#2', 'refunds#3'] }],
  ...overrides,
});

describe('the feedback line parser', () => {
  test('reads an exported line and names the first bad field', () => {
    const parsed = parseFeedbackLine(JSON.stringify({ ...row(), reason: 'outdated', answer: 'Five days' }));
    assert.equal(parsed.ok, true);
    assert.equal(parsed.ok && parsed.row.standaloneQuestion, 'How long do refunds take?');
    const cases: [unknown, RegExp][] = [
      ['{', /not JSON/],
      [{ ...row(), workspace: 'nope' }, /"workspace" must be a Slack id/],
      [{ ...row(), channel: undefined }, /"channel" must be a Slack id/],
      [{ ...row(), question: '', standaloneQuestion: undefined }, /"question" is missing/],
      [{ ...row(), vote: 'meh' }, /"vote" must be/],
      [{ ...row(), cited: 'x' }, /"cited" must be a list/],
      [{ ...row(), cited: [{ documentId: 'd' }] }, /"cited" entries need/],
    ];
    for (const [value, error] of cases) {
      const result = parseFeedbackLine(typeof value === 'string' ? value : JSON.stringify(value));
      assert.match(result.ok ? '' : result.error, error);
    }
    assert.match((parseFeedbackLine('x'.repeat(200_001)) as { error: string }).error, /longer than/);
  });
});

describe('the replay', () => {
  const cited = row().cited;
  test('kept, moved, lost and no citations', () => {
    assert.equal(compareCitations(cited, [{ documentId: 'refunds', chunkIndexes: [1, 2, 3] }]).verdict, 'kept');
    const moved = compareCitations(cited, [{ documentId: 'refunds', chunkIndexes: [3, 4] }]);
    assert.equal(moved.verdict, 'moved');
    assert.deepEqual(moved.missing, ['refunds#2']);
    const lost = compareCitations(cited, [{ documentId: 'shipping', chunkIndexes: [0] }]);
    assert.equal(lost.verdict, 'lost');
    assert.deepEqual(lost.lostDocuments, ['Refund policy']);
    assert.equal(compareCitations(cited, []).verdict, 'lost');
    assert.equal(compareCitations([], [{ documentId: 'refunds', chunkIndexes: [2] }]).verdict, 'no_citations');
  });

  test('searches each answer and vote once, in its own workspace and channel, sparse only', async () => {
    const requests: RetrieveRequest[] = [];
    const retrieve = async (request: RetrieveRequest) => {
      requests.push(request);
      return {
        passages: [
          {
            documentId: 'refunds',
            title: 'Refund policy',
            sectionPath: [],
            source: 's',
            chunkIndexes: [2, 3],
            text: 't',
            tokenCount: 1,
            score: 1,
          },
        ],
        closest: [],
        indexVersion: 1,
      };
    };
    const rows = [
      row(),
      row(),
      row({ vote: 'not_helpful', reason: 'wrong' }),
      row({ answerId: 'a2', workspace: 'T2', channel: 'C2' }),
    ];
    const totals = emptyTotals();
    const results = [];
    for await (const result of replayFeedback(rows, retrieve, { workspaceId: 'T1' })) {
      results.push(result);
      countResult(totals, result);
    }
    assert.equal(results.length, 2, 'the duplicate and the other workspace are skipped');
    assert.deepEqual(requests[0]?.access, { workspaceId: 'T1', channelId: 'C1' });
    assert.equal(requests[0]?.question, 'How long do refunds take?');
    assert.equal(requests[0]?.sparseOnly, true);
    assert.equal(totals.helpful.kept, 1);
    assert.equal(totals.not_helpful.kept, 1);
    assert.equal(results[1]?.reason, 'wrong');
  });
});
