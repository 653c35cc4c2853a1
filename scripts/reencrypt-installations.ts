/**
 * `npm run installations:reencrypt` — after adding a new first key to INSTALLATION_ENCRYPTION_KEYS, rewrites every
 * stored installation with it at once (reads do so one by one anyway), so the old key can be dropped from the
 * list. Prints how many were rewritten and the Redis keys no listed key opens (those workspaces have to install
 * again, or the missing key has to come back); exits 1 when there are any. Tokens are never printed.
 */
import { createInstallationStore } from '../src/composition/build-installations.ts';
import { loadConfiguration } from '../src/composition/config.ts';
import { createRedis } from '../src/composition/create-redis.ts';
import { createLogger } from '../src/observability/logger.ts';

const loaded = loadConfiguration();
if (!loaded.ok) {
  console.error(`Cannot run: fix these settings first:\n  - ${loaded.problems.join('\n  - ')}`);
  process.exit(1);
}
const { configuration } = loaded;
const oauth = configuration.slack.oauth;
if (!oauth) {
  console.error('OAuth distribution is not configured (SLACK_CLIENT_ID, …): there are no installations to rewrite.');
  process.exit(1);
}
const redis = createRedis(configuration);
try {
  const logger = createLogger({ level: 'warn' });
  const store = createInstallationStore(oauth, { redis, keyPrefix: configuration.redis.keyPrefix, logger });
  const { rewritten, unreadable } = await store.reencryptAll();
  console.log(`Rewrote ${rewritten} installation(s) with the first key of the ring.`);
  for (const key of unreadable) console.error(`  cannot read ${key}: its key is not in the ring or does not match`);
  process.exitCode = unreadable.length > 0 ? 1 : 0;
} finally {
  await redis.quit();
}
