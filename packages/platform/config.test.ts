import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, configEnv, intSetting, loadConfig } from './config.js';

test('defaults follow the topology', () => {
  const config = loadConfig({});
  assert.equal(config.profile, 'embedded');
  assert.equal(config.endpoints.gateway.port, 8443);
  assert.equal(config.endpoints.store.adminPort, 9102);
  assert.equal(config.endpoints.orders.url, 'https://127.0.0.1:8101');
});

test('every bad value is refused with the variable named and the way out', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ POC_ORDERS_PORT: 'abc' }, /POC_ORDERS_PORT="abc" is not a port number.*unset it to use 8101/],
    [{ POC_PROFILE: 'prod' }, /POC_PROFILE="prod" is not one of embedded, production/],
    [{ POC_PROFILE: 'production' }, /POC_DATABASE_URL is not set/],
    [{ POC_PROFILE: 'production', POC_DATABASE_URL: 'mysql://x', POC_NATS_URL: 'nats://x' }, /POC_DATABASE_URL must use postgres:/],
    [{ POC_ORDERS_PORT: '9102' }, /port 9102 is configured twice: orders port and store admin port|port 9102 is configured twice/],
    [{ POC_STORE_URL: 'http://store:8102' }, /POC_STORE_URL must use https:/],
  ];
  for (const [env, message] of cases) assert.throws(() => loadConfig(env), (error: Error) => error instanceof ConfigError && message.test(error.message), JSON.stringify(env));
  assert.throws(() => intSetting({ X: '0' }, 'X', 5, 1, 10), /X="0" must be a whole number from 1 to 10/);
});

test('configEnv round-trips: a child process sees the same configuration', () => {
  const config = loadConfig({ POC_PROFILE: 'production', POC_DATABASE_URL: 'postgres://db/x', POC_NATS_URL: 'nats://n:4222', POC_GATEWAY_PORT: '18443' });
  const again = loadConfig(configEnv(config));
  assert.deepEqual(again, config);
});
