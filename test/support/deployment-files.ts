/**
 * Shared by the deployment-file tests (docker-compose.ha.yml, deploy/kubernetes/): reading the files from the
 * repository and checking that the environment a replica gets is accepted by the app's own configuration loader.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { type Configuration, loadConfiguration } from '../../src/composition/config.ts';

export const repositoryRoot = new URL('../../', import.meta.url);

export function readRepositoryFile(path: string): string {
  return readFileSync(new URL(path, repositoryRoot), 'utf8');
}

/** Every YAML document in the file, as plain data (`<<` merge keys applied, as Docker Compose does); fails on any error. */
export function readYaml(path: string): unknown[] {
  const documents = parseAllDocuments(readRepositoryFile(path), { merge: true });
  const list = Array.isArray(documents) ? documents : [documents];
  for (const document of list) {
    assert.deepEqual(
      document.errors.map((error) => error.message),
      [],
      `${path} is not valid YAML`,
    );
  }
  return list.map((document) => document.toJS({ maxAliasCount: 100 }) as unknown).filter((value) => value !== null);
}

/**
 * The configuration a replica would load from `environment` (plus the Slack secrets every deployment supplies
 * itself), asserted to have no problem.
 */
export function replicaConfiguration(environment: Record<string, string>): Configuration {
  const loaded = loadConfiguration({
    SLACK_BOT_TOKEN: 'xoxb-deployment-test',
    SLACK_SIGNING_SECRET: 'deployment-test-signing-secret-0123456789',
    ...environment,
  });
  assert.ok(loaded.ok, `the replica's environment is refused: ${loaded.ok ? '' : loaded.problems.join('; ')}`);
  return loaded.configuration;
}

/** The value as a record (fails otherwise), for walking parsed YAML. */
export function record(value: unknown, what: string): Record<string, unknown> {
  assert.ok(value !== null && typeof value === 'object' && !Array.isArray(value), `${what} is not a mapping`);
  return value as Record<string, unknown>;
}
