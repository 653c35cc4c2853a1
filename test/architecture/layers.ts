/**
 * The floors of `src/`, top to bottom, as ARCHITECTURE.md draws them. A file may import its own room and any
 * lower floor, never a higher one, and another room of its own floor only where the floor says so. The flow a
 * request takes runs down the floors: Slack in → durable work → router → capability → gateway → ports → Slack
 * out (the Slack adapter's outbound half is built by composition and reached only through the Messenger port).
 */
import type { Layer } from './import-graph.ts';

export const sourceLayers: readonly Layer[] = [
  { name: 'entry point', paths: ['main.ts'] },
  { name: 'composition', paths: ['composition'] },
  { name: 'slack', paths: ['slack'] },
  { name: 'work', paths: ['work'] },
  { name: 'router', paths: ['router'] },
  {
    name: 'capabilities',
    paths: [
      'capabilities/agent',
      'capabilities/answers',
      'capabilities/tickets',
      'capabilities/budget',
      'capabilities/settings',
      'capabilities/assistant',
      'capabilities/home',
      'capabilities/report',
    ],
  },
  { name: 'documents', paths: ['capabilities/documents'] },
  { name: 'llm', paths: ['llm'] },
  { name: 'adapters', paths: ['adapters'] },
  { name: 'search', paths: ['search'] },
  { name: 'slack-kit', paths: ['slack-kit'] },
  { name: 'ports', paths: ['ports'] },
  { name: 'foundation', paths: ['errors.ts', 'observability'], roomsMayImportEachOther: true },
];
