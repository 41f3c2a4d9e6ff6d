/**
 * In-process checks of the pure pieces: CLI parsing, component parsing, key prefixes, TTL parsing, JSON
 * re-serialisation and the error table.
 */
import { status } from '@grpc/grpc-js';
import { DaprError, stateFailure } from '../../src/api/dapr-errors';
import { decodeStatus, toServiceError } from '../../src/api/grpc/rich-status';
import { parseCli, parseQuantity } from '../../src/cli';
import { ComponentConfigError, parseFile } from '../../src/components/component-loader';
import { goJsonStringify } from '../../src/state/json-value';
import { lockKey, resolvePrefix, StateKeyCodec } from '../../src/state/key-prefix';
import { StateError, joinItemErrors } from '../../src/state/state-errors';
import { formatExpireTime, parseTtl } from '../../src/state/ttl';

describe('CLI', () => {
  test('daprd defaults', () => {
    const c = parseCli([], {});
    expect(c).toMatchObject({
      appId: '',
      httpPort: 3500,
      grpcPort: 50001,
      metricsPort: 9090,
      listenAddresses: ['127.0.0.1'],
      resourcesPaths: ['./components'],
      logLevel: 'info',
      maxBodySize: 4 * 1024 * 1024,
    });
    expect(c).not.toBe('help');
    if (typeof c !== 'string') {
      expect(c.etcdPort).toBeUndefined();
      expect(c.apiToken).toBeUndefined();
    }
  });

  test('flags win over env; env equivalents; --flag=value form; repeatable resources path', () => {
    const c = parseCli(
      [
        '--app-id=a',
        '--dapr-http-port',
        '1234',
        '--resources-path',
        'x',
        '--resources-path',
        'y',
        '--etcd-port',
        '2379',
      ],
      {
        APP_ID: 'env-app',
        DAPR_GRPC_PORT: '5555',
        DAPR_API_TOKEN: 't',
        DAPR_LISTEN_ADDRESSES: '0.0.0.0, ::1',
      },
    );
    expect(c).toMatchObject({
      appId: 'a',
      httpPort: 1234,
      grpcPort: 5555,
      resourcesPaths: ['x', 'y'],
      etcdPort: 2379,
      apiToken: 't',
      listenAddresses: ['0.0.0.0', '::1'],
    });
    expect(parseCli(['--enable-metrics', 'false'], {})).toMatchObject({ metricsPort: undefined });
  });

  test('bad values are rejected with the flag named', () => {
    expect(() => parseCli(['--dapr-http-port', 'abc'], {})).toThrow('--dapr-http-port');
    expect(() => parseCli(['--log-level', 'loud'], {})).toThrow('--log-level');
    expect(() => parseCli(['--no-such-flag'], {})).toThrow();
    expect(() => parseCli(['--max-body-size', '4 potatoes'], {})).toThrow('--max-body-size');
  });

  test('--max-body-size quantities', () => {
    expect(parseQuantity('4Mi')).toBe(4 * 1024 * 1024);
    expect(parseQuantity('512Ki')).toBe(512 * 1024);
    expect(parseQuantity('16M')).toBe(16_000_000);
    expect(parseQuantity('1048576')).toBe(1048576);
  });
});

describe('component files', () => {
  const doc = (extra = '') => `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: s
spec:
  type: state.in-memory
  version: v1
  metadata:
    - name: maxTxnOps
      value: 64
    - name: flag
      value: true
${extra}`;

  test('scalars become strings; other kinds and other apps are skipped', () => {
    const defs = parseFile(
      'f.yaml',
      `${doc()}---\napiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: c\n---\n${doc('scopes: [other]').replace('name: s', 'name: t')}`,
      'me',
      {},
    );
    expect(defs).toEqual([
      {
        name: 's',
        type: 'state.in-memory',
        version: 'v1',
        file: 'f.yaml',
        metadata: { maxTxnOps: '64', flag: 'true' },
        ignoreErrors: false,
        initTimeoutMs: 5000,
      },
    ]);
  });

  test('secretKeyRef reads the environment', () => {
    const text = doc().replace(
      '    - name: flag\n      value: true',
      '    - name: keyPrefix\n      secretKeyRef:\n        name: MY_PREFIX',
    );
    expect(parseFile('f.yaml', text, 'me', { MY_PREFIX: 'p' })[0].metadata.keyPrefix).toBe('p');
  });

  test('errors name the file and the field', () => {
    expect(() =>
      parseFile('f.yaml', doc().replace('kind: Component', 'kind: Component\napiVersion: v2'), 'me', {}),
    ).toThrow(ComponentConfigError);
    try {
      parseFile('f.yaml', doc().replace('type: state.in-memory', 'type: 7'), 'me', {});
      throw new Error('expected failure');
    } catch (e) {
      expect((e as Error).message).toMatch(/^component file f\.yaml: field spec\.type: /);
    }
  });
});

describe('key prefixes', () => {
  test('strategies', () => {
    const ctx = { appId: 'app', storeName: 'store', namespace: 'ns' };
    expect(resolvePrefix('appid', ctx)).toBe('app');
    expect(resolvePrefix('name', ctx)).toBe('store');
    expect(resolvePrefix('namespace', ctx)).toBe('ns.app');
    expect(resolvePrefix('namespace', { ...ctx, namespace: undefined })).toBe('app');
    expect(resolvePrefix('none', ctx)).toBe('');
    expect(resolvePrefix('custom', ctx)).toBe('custom');
    expect(resolvePrefix('appid', { ...ctx, appId: '' })).toBe('');
    const codec = new StateKeyCodec('app');
    expect(codec.encode('k').toString()).toBe('app||k');
    expect(lockKey('app', 'r').toString()).toBe('lock||app||r');
    expect(lockKey('', 'r').toString()).toBe('lock||r');
  });
});

describe('TTL and values', () => {
  test('parseTtl', () => {
    expect(parseTtl(undefined)).toBe(0);
    expect(parseTtl({ ttlInSeconds: '10' })).toBe(10);
    expect(parseTtl({ ttlInSeconds: '-1' })).toBe(0);
    expect(parseTtl({ ttlInSeconds: '0' })).toBe(0);
    expect(() => parseTtl({ ttlInSeconds: 'foo' })).toThrow(StateError);
    expect(() => parseTtl({ ttlInSeconds: '-2' })).toThrow(StateError);
    expect(() => parseTtl({ ttlInSeconds: String(2 ** 31) })).toThrow(StateError);
    expect(formatExpireTime(Date.UTC(2026, 0, 2, 3, 4, 5, 999))).toBe('2026-01-02T03:04:05Z');
  });

  test('Go-style JSON', () => {
    expect(goJsonStringify({ b: [1, { d: null, c: 'x' }], a: '<&>' })).toBe(
      '{"a":"\\u003c\\u0026\\u003e","b":[1,{"c":"x","d":null}]}',
    );
    expect(goJsonStringify(undefined)).toBe('null');
    expect(goJsonStringify('hello')).toBe('"hello"');
  });
});

describe('error table', () => {
  test('state failures pick the row by operation and kind', () => {
    const mismatch = new StateError('ETAG_MISMATCH', 'etag mismatch for key=k');
    expect(stateFailure('save', 's', 'k', mismatch)).toMatchObject({
      httpStatus: 409,
      grpcCode: status.ABORTED,
    });
    expect(stateFailure('delete', 's', 'k', new StateError('ETAG_INVALID', 'x'))).toMatchObject({
      httpStatus: 400,
      errorCode: 'ERR_STATE_DELETE',
    });
    expect(stateFailure('transaction', 's', '', mismatch)).toMatchObject({
      httpStatus: 500,
      grpcCode: status.INTERNAL,
      errorCode: 'ERR_STATE_TRANSACTION',
    });
    expect(stateFailure('get', 's', 'k', new Error('boom')).message).toBe(
      'fail to get k from state store s: boom',
    );
  });

  test('joined item errors: invalid beats mismatch beats store failures', () => {
    const m = new StateError('ETAG_MISMATCH', 'm');
    const i = new StateError('ETAG_INVALID', 'i');
    const s = new StateError('STORE', 's');
    expect(joinItemErrors([m, s]).kind).toBe('ETAG_MISMATCH');
    expect(joinItemErrors([m, i, s]).kind).toBe('ETAG_INVALID');
    expect(joinItemErrors([s, s]).kind).toBe('STORE');
  });

  test('gRPC rich status round-trips through grpc-status-details-bin', () => {
    const err = new DaprError('STATE_ILLEGAL_KEY', { store: 's', key: 'a||b' });
    const se = toServiceError(err, 'app');
    const decoded = decodeStatus(se.metadata!.get('grpc-status-details-bin')[0] as Buffer);
    expect(decoded.code).toBe(status.INVALID_ARGUMENT);
    expect(decoded.details.map((d) => d['@type'])).toEqual([
      'type.googleapis.com/google.rpc.ErrorInfo',
      'type.googleapis.com/google.rpc.ResourceInfo',
      'type.googleapis.com/google.rpc.BadRequest',
    ]);
  });
});
