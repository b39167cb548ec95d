import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchFeatures, ConfigError, configEnv, intSetting, loadConfig } from './config.js';

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

test('tracing follows the standard OTEL_* variables: the console by default, any OTLP endpoint, export off, a sampling ratio', () => {
  const defaults = loadConfig({}).tracing;
  assert.deepEqual(
    { exportSpans: defaults.exportSpans, endpoint: defaults.endpoint, protocol: defaults.protocol, sampleRatio: defaults.sampleRatio },
    { exportSpans: true, endpoint: 'http://127.0.0.1:4318/v1/traces', protocol: 'http/protobuf', sampleRatio: 1 },
  );
  assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing.endpoint, 'http://collector:4318/v1/traces');
  assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://tempo:4318/otlp/traces' }).tracing.endpoint, 'https://tempo:4318/otlp/traces');
  assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).tracing.protocol, 'http/json');
  assert.equal(loadConfig({ OTEL_SDK_DISABLED: 'true' }).tracing.exportSpans, false);
  assert.equal(loadConfig({ OTEL_TRACES_EXPORTER: 'none' }).tracing.exportSpans, false);
  assert.equal(loadConfig({ OTEL_TRACES_SAMPLER_ARG: '0.25' }).tracing.sampleRatio, 0.25);
  assert.equal(loadConfig({ OTEL_TRACES_SAMPLER: 'parentbased_always_off' }).tracing.sampleRatio, 0);
  const cases: [Record<string, string>, RegExp][] = [
    [{ OTEL_TRACES_SAMPLER_ARG: '2' }, /OTEL_TRACES_SAMPLER_ARG="2" is not a sampling ratio from 0 to 1/],
    [{ OTEL_TRACES_SAMPLER_ARG: 'half' }, /OTEL_TRACES_SAMPLER_ARG="half" is not a sampling ratio/],
    [{ OTEL_TRACES_SAMPLER: 'always_on' }, /OTEL_TRACES_SAMPLER="always_on" is not one of parentbased_traceidratio/],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, /OTEL_EXPORTER_OTLP_PROTOCOL="grpc" is not one of http\/protobuf, http\/json/],
    [{ OTEL_TRACES_EXPORTER: 'zipkin' }, /OTEL_TRACES_EXPORTER="zipkin" is not one of otlp, none/],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, /OTEL_EXPORTER_OTLP_ENDPOINT must use http: or https:/],
    [{ OTEL_BSP_MAX_QUEUE_SIZE: '100', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '200' }, /OTEL_BSP_MAX_EXPORT_BATCH_SIZE \(200\) is larger than OTEL_BSP_MAX_QUEUE_SIZE \(100\)/],
  ];
  for (const [env, message] of cases) assert.throws(() => loadConfig(env), (error: Error) => error instanceof ConfigError && message.test(error.message), JSON.stringify(env));
  const tuned = loadConfig({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_TRACES_SAMPLER_ARG: '0.1', OTEL_BSP_SCHEDULE_DELAY: '200' });
  assert.deepEqual(loadConfig(configEnv(tuned)).tracing, tuned.tracing, 'a child process sees the same tracing settings');
});

test('bench switches: off by default, each feature by name, unknown names and the production profile refused', () => {
  assert.equal(loadConfig({}).benchDisabled.size, 0);
  assert.equal(loadConfig({ POC_BENCH_DISABLE: '' }).benchDisabled.size, 0);
  for (const feature of benchFeatures) assert.deepEqual([...loadConfig({ POC_BENCH_DISABLE: feature }).benchDisabled], [feature]);
  const several = loadConfig({ POC_BENCH_DISABLE: 'tracing, metrics,tracing' });
  assert.deepEqual([...several.benchDisabled].sort(), ['metrics', 'tracing']);
  assert.equal(several.tracing.exportSpans, false, 'tracing off exports no span');
  assert.deepEqual(loadConfig(configEnv(several)).benchDisabled, several.benchDisabled, 'a child process sees the same switches');

  assert.throws(() => loadConfig({ POC_BENCH_DISABLE: 'tracing,dpop' }), (error: Error) =>
    error instanceof ConfigError && /POC_BENCH_DISABLE="tracing,dpop" names "dpop"/.test(error.message) && error.message.includes(benchFeatures.join(', ')));
  assert.throws(() => loadConfig({ POC_PROFILE: 'production', POC_DATABASE_URL: 'postgres://db/x', POC_NATS_URL: 'nats://n:4222', POC_BENCH_DISABLE: 'metrics' }), (error: Error) =>
    error instanceof ConfigError && /POC_BENCH_DISABLE="metrics".*only for `npm run bench` on the embedded profile/.test(error.message));
});
