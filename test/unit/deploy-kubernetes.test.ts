/**
 * deploy/kubernetes/ (issue 17 item 6) is parsed and checked here (no cluster where it was written): a Deployment of
 * 3 replicas with readiness on /readyz and liveness on /healthz on the port the app listens on, time to drain before
 * SIGKILL, a Service and a PodDisruptionBudget selecting its pods, and the environment every replica gets (ConfigMap
 * + Secret example) accepted by the app's own loader as Redis under Sentinel and Qdrant — never the embedded index.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { readYaml, record, replicaConfiguration, repositoryRoot } from '../support/deployment-files.ts';

const directory = 'deploy/kubernetes/';
const files = readdirSync(new URL(directory, repositoryRoot)).filter((name) => name.endsWith('.yaml'));
const manifests = files.flatMap((name) => readYaml(`${directory}${name}`).map((value) => record(value, name)));
const byKind = (kind: string) => manifests.filter((manifest) => manifest.kind === kind);
const only = (kind: string) => {
  const found = byKind(kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0] as Record<string, unknown>;
};
const nameOf = (manifest: Record<string, unknown>) => String(record(manifest.metadata, 'metadata').name);

const deployment = only('Deployment');
const spec = record(deployment.spec, 'Deployment.spec');
const podTemplate = record(spec.template, 'template');
const podSpec = record(podTemplate.spec, 'template.spec');
const podLabels = record(record(podTemplate.metadata, 'template.metadata').labels, 'pod labels');
const containers = podSpec.containers as Array<Record<string, unknown>>;
const container = record(containers[0], 'container');

/** The environment a replica gets: its ConfigMaps' data, its Secrets' stringData, then `env`. */
function replicaEnvironment(): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const source of (container.envFrom as Array<Record<string, unknown>>) ?? []) {
    if (source.configMapRef) {
      const name = record(source.configMapRef, 'configMapRef').name;
      const configMap = byKind('ConfigMap').find((manifest) => nameOf(manifest) === name);
      assert.ok(configMap, `ConfigMap ${String(name)} is in ${directory}`);
      Object.assign(environment, record(configMap.data, 'ConfigMap.data'));
    }
    if (source.secretRef) {
      const name = record(source.secretRef, 'secretRef').name;
      const secret = byKind('Secret').find((manifest) => nameOf(manifest) === name);
      assert.ok(secret, `an example of Secret ${String(name)} is in ${directory}`);
      Object.assign(environment, record(secret.stringData, 'Secret.stringData'));
    }
  }
  for (const variable of (container.env as Array<{ name: string; value: string }> | undefined) ?? []) {
    environment[variable.name] = variable.value;
  }
  return environment;
}

/** The container port a probe or Service targets (by name or number). */
function containerPort(target: unknown): number {
  const ports = container.ports as Array<{ name?: string; containerPort: number }>;
  const port =
    typeof target === 'number'
      ? ports.find((entry) => entry.containerPort === target)
      : ports.find((entry) => entry.name === target);
  assert.ok(port, `the container exposes ${String(target)}`);
  return port.containerPort;
}

function matches(selector: unknown): boolean {
  const labels = record(selector, 'selector');
  return Object.entries(labels).every(([key, value]) => podLabels[key] === value);
}

test('every manifest parses, and the kustomization lists the files that exist (the secret stays an example)', () => {
  for (const manifest of manifests) {
    if (manifest.kind === 'Kustomization') continue;
    assert.ok(manifest.apiVersion && manifest.kind && nameOf(manifest), 'apiVersion, kind and name');
  }
  const kustomization = only('Kustomization');
  const resources = kustomization.resources as string[];
  for (const resource of resources) assert.ok(files.includes(resource), `${resource} exists`);
  assert.ok(!resources.some((resource) => resource.startsWith('secret')), 'no example secret applied by default');
  for (const kind of ['ConfigMap', 'Deployment', 'Service', 'PodDisruptionBudget']) {
    const file = files.find((name) =>
      readYaml(`${directory}${name}`).some((value) => record(value, name).kind === kind),
    );
    assert.ok(file && resources.includes(file), `the ${kind} is applied`);
  }
});

test('a Deployment of 3 replicas: readiness on /readyz, liveness on /healthz, on the port the app listens on', () => {
  assert.equal(spec.replicas, 3);
  assert.ok(matches(record(spec.selector, 'selector').matchLabels), 'its selector matches its pods');
  const environment = replicaEnvironment();
  const port = Number(environment.PORT);
  const readiness = record(container.readinessProbe, 'readinessProbe');
  const liveness = record(container.livenessProbe, 'livenessProbe');
  assert.equal(record(readiness.httpGet, 'readiness.httpGet').path, '/readyz');
  assert.equal(record(liveness.httpGet, 'liveness.httpGet').path, '/healthz');
  assert.equal(containerPort(record(readiness.httpGet, 'readiness.httpGet').port), port, 'readiness on PORT');
  assert.equal(containerPort(record(liveness.httpGet, 'liveness.httpGet').port), port, 'liveness on PORT');
  // Readiness reacts faster than liveness: a Redis outage takes a pod out of the Service, it does not restart it.
  const reactsAfter = (probe: Record<string, unknown>) => Number(probe.periodSeconds) * Number(probe.failureThreshold);
  assert.ok(reactsAfter(readiness) < reactsAfter(liveness));
  const rollout = record(record(spec.strategy, 'strategy').rollingUpdate, 'rollingUpdate');
  assert.equal(rollout.maxUnavailable, 0, 'a rollout never lowers the number of ready replicas');
  // The app drains for up to 25 s after SIGTERM (30 s hard limit), after the preStop pause.
  const preStop = JSON.stringify(record(container.lifecycle, 'lifecycle').preStop);
  const pauseSeconds = Number(/"sleep","(\d+)"/.exec(preStop)?.[1] ?? 0);
  assert.ok(Number(podSpec.terminationGracePeriodSeconds) >= pauseSeconds + 30, 'SIGKILL comes after the drain');
});

test('each replica gets Redis through Sentinel and Qdrant (never the embedded index), accepted by the app', () => {
  const environment = replicaEnvironment();
  assert.equal(environment.REDIS_URL, undefined, 'no REDIS_URL beside the sentinels');
  assert.ok(environment.REDIS_SENTINELS && environment.REDIS_SENTINEL_NAME);
  assert.ok(environment.QDRANT_URL, 'QDRANT_URL set: the embedded index takes one replica');
  const configuration = replicaConfiguration(environment);
  const topology = configuration.redis.topology;
  assert.equal(topology.kind, 'sentinel');
  assert.ok(topology.kind === 'sentinel' && topology.sentinels.length >= 3, 'at least 3 sentinels');
  assert.equal(
    topology.kind === 'sentinel' ? topology.sentinelPassword : undefined,
    environment.REDIS_SENTINEL_PASSWORD,
  );
  assert.ok(configuration.qdrant.url?.startsWith('http'));
  assert.equal(configuration.qdrant.apiKey, environment.QDRANT_API_KEY);

  // DATA_DIR is per pod (the replica's local export only), never a volume every replica would write.
  const mount = (container.volumeMounts as Array<{ name: string; mountPath: string }>).find(
    (entry) => entry.mountPath === configuration.dataDir,
  );
  assert.ok(mount, 'DATA_DIR is a mounted volume');
  const volume = (podSpec.volumes as Array<Record<string, unknown>>).find((entry) => entry.name === mount.name);
  assert.ok(volume && 'emptyDir' in volume, 'an emptyDir, not a shared claim');
  assert.equal(byKind('PersistentVolumeClaim').length, 0);
});

test('a Service and a PodDisruptionBudget select the pods; voluntary disruptions keep a majority', () => {
  const service = only('Service');
  const serviceSpec = record(service.spec, 'Service.spec');
  assert.ok(matches(serviceSpec.selector), 'the Service selects the pods');
  const [port] = serviceSpec.ports as Array<{ targetPort: unknown }>;
  assert.equal(containerPort(port?.targetPort), Number(replicaEnvironment().PORT));

  const budget = only('PodDisruptionBudget');
  assert.equal(budget.apiVersion, 'policy/v1');
  const budgetSpec = record(budget.spec, 'PodDisruptionBudget.spec');
  assert.ok(matches(record(budgetSpec.selector, 'selector').matchLabels), 'the budget selects the pods');
  const minAvailable = Number(budgetSpec.minAvailable);
  assert.ok(minAvailable >= 2 && minAvailable < Number(spec.replicas), 'one pod at a time may be evicted');
});
