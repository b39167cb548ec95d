import assert from 'node:assert/strict';
import { readFileSync, readlinkSync } from 'node:fs';
import { describe, test } from 'node:test';
import { topology } from '@msa-poc/contracts';
import { buildCommand, detectEngine, repositoryRoot, selectWorkloads, type Engine } from './images.js';
import { allWorkloads } from './workloads.js';

const containerfile = readFileSync(new URL('Containerfile', `file://${repositoryRoot}/`), 'utf8');
const ignored = readFileSync(new URL('.containerignore', `file://${repositoryRoot}/`), 'utf8').split('\n').filter((line) => line && !line.startsWith('#'));
const orders = selectWorkloads('orders')[0]!;

describe('images', () => {
  test('each engine builds the Containerfile with the workload\'s arguments; buildah on vfs with chroot isolation', () => {
    const options = { registry: 'localhost/msa-poc', tag: 'dev', baseImage: 'localhost/base:20' };
    const docker = buildCommand(orders, { ...options, engine: 'docker' });
    assert.deepEqual(docker.slice(0, 2), ['docker', 'build']);
    for (const engine of ['docker', 'podman', 'buildah'] as Engine[]) {
      const command = buildCommand(orders, { ...options, engine }).join(' ');
      assert.match(command, /--build-arg SERVICE=orders --build-arg WORKSPACE=services\/orders --build-arg BASE_IMAGE=localhost\/base:20 --file Containerfile --tag localhost\/msa-poc\/orders:dev \.$/);
    }
    assert.match(buildCommand(orders, { ...options, engine: 'buildah' }).join(' '), /^buildah --storage-driver vfs bud --isolation chroot --format docker /);
    assert.doesNotMatch(buildCommand(orders, { registry: 'r', tag: 't', engine: 'docker' }).join(' '), /BASE_IMAGE/, 'without --base the Containerfile\'s official default is used');
  });

  test('docker counts only with a daemon; without any engine the error says what to install', () => {
    assert.equal(detectEngine((engine) => engine !== 'docker'), 'podman');
    assert.equal(detectEngine((engine) => engine === 'buildah'), 'buildah');
    assert.throws(() => detectEngine(() => false), /no container engine can build images here.*apt-get install -y buildah/);
  });

  test('every workload of the topology gets an image, and an unknown one is named with the choices', () => {
    assert.deepEqual(selectWorkloads(undefined).map((w) => w.name), allWorkloads().map((w) => w.name));
    assert.ok(topology.every((s) => selectWorkloads(undefined).some((w) => w.name === s.name)));
    assert.throws(() => selectWorkloads('orders,no-such-service'), /--service "no-such-service" is not a workload; choose from gateway, orders/);
  });

  test('the Containerfile is generic, defaults to an official slim Node LTS, runs unprivileged and checks the admin port', () => {
    const instructions = containerfile.split('\n').filter((line) => !line.startsWith('#')).join('\n');
    for (const { name } of topology) assert.doesNotMatch(instructions, new RegExp(`\\b${name}\\b`), `the Containerfile names ${name} outside its comments`);
    assert.match(containerfile, /^ARG BASE_IMAGE=node:(20|22|24)-\w+-slim$/m);
    assert.match(containerfile, /^FROM \$\{BASE_IMAGE\} AS build$/m);
    assert.match(containerfile, /^USER 10001:10001$/m);
    assert.match(containerfile, /^HEALTHCHECK .*CMD \["node", "\/app\/deploy\/images\/healthcheck\.mjs"\]$/m);
    assert.match(containerfile, /^ENTRYPOINT \["node", "--enable-source-maps", "dist\/main\.js"\]$/m);
  });

  test('the build context leaves out dependencies, build output and every identity', () => {
    for (const pattern of ['**/node_modules', '**/dist', '.poc', '**/*.key', '.git']) assert.ok(ignored.includes(pattern), `.containerignore lacks ${pattern}`);
    // docker reads .dockerignore only: it is a link to the same file, so no engine sends the identities.
    assert.equal(readlinkSync(new URL('.dockerignore', `file://${repositoryRoot}/`)), '.containerignore');
  });
});
