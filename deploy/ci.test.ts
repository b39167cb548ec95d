import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { register } from 'node:module';
import { describe, test } from 'node:test';
import { parse } from 'yaml';

const workflowFile = new URL('../../.github/workflows/ci.yml', import.meta.url);
const localCi = new URL('../../.ci/run', import.meta.url);

// GitHub's own workflow parser (@actions/workflow-parser) imports its schema JSON without an import
// attribute, as a bundler allows; this hook adds the attribute so that node loads it as it is.
const jsonImportHook = `export async function load(url, context, next) {
  const attributes = context.importAttributes ?? {};
  return next(url, url.endsWith('.json') && !attributes.type ? { ...context, importAttributes: { ...attributes, type: 'json' } } : context);
}`;
register(`data:text/javascript,${encodeURIComponent(jsonImportHook)}`);
const { parseWorkflow, convertWorkflowTemplate, NoOperationTraceWriter } = await import('@actions/workflow-parser');

/** GitHub's parser's verdict on a workflow: every error it reports, schema and expressions alike. */
async function workflowErrors(content: string): Promise<string[]> {
  const parsed = parseWorkflow({ name: 'ci.yml', content }, new NoOperationTraceWriter());
  const errors = parsed.context.errors.getErrors().map((e) => e.message);
  if (errors.length > 0 || !parsed.value) return errors;
  const template = await convertWorkflowTemplate(parsed.context, parsed.value);
  return (template.errors ?? []).map((e) => e.Message);
}

interface Step { name?: string; run?: string; uses?: string; if?: string }
interface Workflow {
  env: Record<string, string>;
  jobs: Record<string, { services?: Record<string, { image: string }>; steps: Step[] }>;
}

const workflowText = () => readFileSync(workflowFile, 'utf8');
const workflow = () => parse(workflowText()) as Workflow;
const runLines = (w: Workflow): string[] => Object.values(w.jobs).flatMap((job) => job.steps.flatMap((step) => (step.run ?? '').split('\n').map((line) => line.trim())));

/** The npm and npx commands a script runs, by what they do (`npm run images`, `npx poc deploy identities`), without their options. */
function npmCommands(lines: readonly string[]): Set<string> {
  const commands = new Set<string>();
  for (const line of lines) {
    const words = line.replace(/^(\w+=\S+\s+)+/, '').split(/\s+/);
    if (words[0] !== 'npm' && words[0] !== 'npx') continue;
    const end = words.findIndex((word, i) => i > 0 && (word.startsWith('-') || word.startsWith('"')));
    commands.add(words.slice(0, end < 0 ? undefined : end).join(' '));
  }
  return commands;
}

describe('.github/workflows/ci.yml', () => {
  test('GitHub\'s workflow parser accepts it, and refuses a misspelt key or a broken expression', async () => {
    assert.deepEqual(await workflowErrors(workflowText()), []);
    assert.match((await workflowErrors(workflowText().replace('runs-on:', 'runs-onn:'))).join('\n'), /Unexpected value 'runs-onn'/);
    assert.match((await workflowErrors(workflowText().replace('if: matrix.node == 20\n', 'if: matrix.node == 20 &&\n'))).join('\n'), /Unexpected end of expression/);
  });

  test('runs every npm and npx command of .ci/run, the same self-check, with the same test databases', () => {
    const local = readFileSync(localCi, 'utf8').split('\n').map((line) => line.trim()).filter((line) => !line.startsWith('#'));
    const hosted = runLines(workflow());
    const missing = [...npmCommands(local)].filter((command) => !npmCommands(hosted).has(command));
    assert.deepEqual(missing, [], 'commands .ci/run runs that the workflow does not');
    assert.ok(hosted.some((line) => line.includes('--self-check')) && local.some((line) => line.includes('--self-check')));
    for (const [variable, value] of Object.entries(workflow().env)) {
      assert.match(readFileSync(localCi, 'utf8'), new RegExp(`${variable}=\\$\\{${variable}:-${value.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\}`), `${variable} differs from .ci/run`);
    }
  });

  test('tests against PostgreSQL, Redis and NATS with JetStream, type-checks, checks contracts against main, proves and builds an image', () => {
    const w = workflow();
    const images = Object.values(w.jobs.test!.services ?? {}).map((s) => s.image);
    assert.ok(images.some((i) => i.startsWith('postgres:')) && images.some((i) => i.startsWith('redis:')));
    const lines = runLines(w);
    const runs = (pattern: RegExp) => assert.ok(lines.some((line) => pattern.test(line)), `no step runs ${pattern}`);
    runs(/docker run .*nats.* --jetstream/);
    runs(/^npx tsc -b$/);
    runs(/^npm test$/);
    runs(/^npm run contracts:check -- origin\/main$/);
    runs(/^npx poc prove --quick --profile production$/);
    runs(/^npm run images -- --service orders/);
  });
});

describe('npmCommands', () => {
  test('names a command by what it does, leaving out options and variables', () => {
    assert.deepEqual([...npmCommands(['npm ci --no-audit', 'POC_HOME="$x" npx poc deploy identities', 'npm run images -- --service orders', 'echo npm'])], ['npm ci', 'npx poc deploy identities', 'npm run images']);
  });
});
