/**
 * The reporter of every test file's process (`--test-reporter`): Node's spec output without the per-file totals
 * (the runner prints one set for the whole run), and one `test` message per finished test on the runner's side
 * channel, counted the way the old single-process runner counted (suites excluded; skip and todo are skipped).
 */
import { Readable } from 'node:stream';
import { spec, type TestEvent } from 'node:test/reporters';
import { send, topLevelTest } from './child-preload.ts';

const TOTALS = /^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /;

async function* counted(source: AsyncIterable<TestEvent>): AsyncGenerator<TestEvent> {
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.details.type !== 'suite') {
      const skipped = event.type === 'test:pass' && Boolean(event.data.skip || event.data.todo);
      send({ type: 'test', result: skipped ? 'skip' : event.type === 'test:pass' ? 'pass' : 'fail' });
    }
    if (event.type === 'test:dequeue' && event.data.nesting === 0) topLevelTest('start');
    if (event.type === 'test:complete' && event.data.nesting === 0) topLevelTest('end');
    if (event.type === 'test:diagnostic' && event.data.nesting === 0 && TOTALS.test(event.data.message)) continue;
    yield event;
  }
}

export default async function* reporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string | Buffer> {
  yield* Readable.from(counted(source)).compose(spec());
}
