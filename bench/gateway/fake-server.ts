/**
 * Child process of the gateway benchmark: runs the FakeOpenAIServer outside the measured event loop and reports its
 * base URL over IPC. Request validation stays on (it is part of the fake, identical for baseline and gateway).
 */
import { FakeOpenAIServer } from '../../test/fakes/openai-server.ts';

const fake = await FakeOpenAIServer.start({ validate: process.argv[2] !== 'no-validate' });
process.send?.({ baseURL: fake.baseURL });
process.on('message', async (message) => {
  if (message === 'stop') {
    await fake.close();
    process.exit(0);
  }
});
