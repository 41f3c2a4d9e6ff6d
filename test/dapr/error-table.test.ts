/**
 * One error table (docs/dapr-api.md#errors, docs/etcd-semantics.md#errors): engine errors carry codes and neutral
 * messages; the etcd wire adds etcd's exact texts; Dapr errors never carry etcd's `etcdserver:` prefix; the SSE watch
 * renders its errors from the Dapr table. The wire checks run against a sidecar process.
 */
import { status } from '@grpc/grpc-js';
import { DAPR_ERRORS, stateFailure, type StateOperation } from '../../src/api/dapr-errors';
import { etcdCancelReason, toConcurrencyGrpcError, toGrpcError } from '../../src/api/grpc/etcd/errors';
import { ENGINE_ERRORS, EngineError, type EngineErrorCode } from '../../src/engine/errors';
import { EtcdGrpcClient, b } from '../etcd/support/etcd-grpc-client';
import { startSidecar, stateComponent, type Sidecar } from '../support/sidecar';
import { request } from './support/http';

jest.setTimeout(60_000);

const CODES = Object.keys(ENGINE_ERRORS) as EngineErrorCode[];
const OPS: StateOperation[] = ['save', 'delete', 'bulkDelete', 'get', 'bulkGet', 'transaction', 'watch'];

describe('the tables', () => {
  test('engine messages are protocol-neutral; a legacy etcd prefix given by engine code is dropped', () => {
    for (const code of CODES) expect(new EngineError(code).message).not.toMatch(/^etcdserver: /);
    const e = new EngineError('INVALID_ARGUMENT', 'etcdserver: invalid argument: limit must be >= 0');
    expect(e.message).toBe('invalid argument: limit must be >= 0');
    expect(e.isDefaultMessage).toBe(false);
  });

  test('the etcd wire sends etcd texts: the code’s own, or the specific message under etcdserver:', () => {
    expect(toGrpcError(new EngineError('REQUEST_TOO_LARGE'))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: 'etcdserver: request is too large',
    });
    expect(toGrpcError(new EngineError('COMPACTED'))).toEqual({
      code: status.OUT_OF_RANGE,
      details: 'etcdserver: mvcc: required revision has been compacted',
    });
    expect(toGrpcError(new EngineError('LEASE_NOT_FOUND')).code).toBe(status.NOT_FOUND);
    expect(toGrpcError(new EngineError('INVALID_ARGUMENT', 'limit must be >= 0')).details).toBe(
      'etcdserver: limit must be >= 0',
    );
    // Every code has an etcd text (a forgotten row would show here).
    for (const code of CODES)
      expect(toGrpcError(new EngineError(code)).details).toMatch(/^(etcdserver|mvcc): /);
    // Watch cancel reasons the engine gives (its messages) reach the etcd wire as etcd's texts.
    expect(etcdCancelReason(ENGINE_ERRORS.STOPPED.message)).toBe('etcdserver: server stopped');
    expect(etcdCancelReason(ENGINE_ERRORS.WATCH_COMPACTED.message)).toBe(
      'mvcc: required revision has been compacted',
    );
    expect(etcdCancelReason('something else')).toBe('something else');
    // Lock and Election: code Unknown, etcd's text inside.
    expect(toConcurrencyGrpcError(new EngineError('LEASE_NOT_FOUND'))).toEqual({
      code: status.UNKNOWN,
      details: 'etcdserver: requested lease not found',
    });
    // Not an engine error: Unknown with its own text.
    expect(toGrpcError(new Error('boom'))).toEqual({ code: status.UNKNOWN, details: 'boom' });
  });

  test('Dapr errors built from engine failures never carry the etcd prefix', () => {
    for (const op of OPS) {
      for (const code of CODES) {
        const de = stateFailure(op, 'statestore', 'k', new EngineError(code, `etcdserver: ${code} happened`));
        expect(de.message).not.toContain('etcdserver');
        expect(de.message).toContain(`${code} happened`);
      }
    }
  });

  test('watch failures: client errors are 400 ERR_MALFORMED_REQUEST, store failures 500 ERR_STATE_WATCH', () => {
    const bad = stateFailure('watch', 's', 'k', new EngineError('INVALID_ARGUMENT', 'bad start'));
    expect([bad.errorCode, bad.httpStatus, bad.message]).toEqual(['ERR_MALFORMED_REQUEST', 400, 'bad start']);
    const down = stateFailure('watch', 's', 'k', new EngineError('UNAVAILABLE', 'redis unavailable'));
    expect([down.errorCode, down.httpStatus, down.grpcCode]).toEqual([
      'ERR_STATE_WATCH',
      500,
      status.INTERNAL,
    ]);
    expect(down.message).toBe('failed watching state store s: redis unavailable');
  });

  test('every Dapr table row is complete and its HTTP status agrees with its class', () => {
    for (const [name, row] of Object.entries(DAPR_ERRORS)) {
      expect([name, row.errorCode]).toEqual([name, expect.stringMatching(/^(ERR_[A-Z_]+|Unauthorized)$/)]);
      expect(row.http).toBeGreaterThanOrEqual(400);
      expect(row.message.length).toBeGreaterThan(0);
    }
  });
});

describe('on the wire (sidecar process)', () => {
  let sc: Sidecar;
  let etcd: EtcdGrpcClient;

  beforeAll(async () => {
    sc = await startSidecar({
      etcdPort: true,
      components: { 'statestore.yaml': stateComponent('statestore', 'state.in-memory', { etcdAPI: 'true' }) },
    });
    etcd = new EtcdGrpcClient(`127.0.0.1:${sc.etcdPort!}`);
  });
  afterAll(async () => {
    etcd?.close();
    await sc?.stop();
  });

  test('SSE watch errors come from the Dapr table (JSON body, exact content type, details)', async () => {
    const unknown = await request(sc.httpUrl, 'GET', '/v1.0-alpha1/state/nope/watch');
    expect(unknown.status).toBe(400);
    expect(unknown.headers.get('content-type')).toBe('application/json');
    const body = unknown.json as { errorCode: string; message: string; details: { reason?: string }[] };
    expect(body.errorCode).toBe('ERR_STATE_STORE_NOT_FOUND');
    expect(body.message).toBe('state store nope is not found');
    expect(body.details[0].reason).toBe('DAPR_STATE_NOT_FOUND');

    const badEtag = await request(sc.httpUrl, 'GET', '/v1.0-alpha1/state/statestore/watch?key=k&etag=x');
    expect(badEtag.status).toBe(400);
    expect(badEtag.headers.get('content-type')).toBe('application/json');
    expect(badEtag.json).toEqual({
      errorCode: 'ERR_MALFORMED_REQUEST',
      message: 'etag must be an etag of the store (a whole number), got "x"',
    });
  });

  test('etcd Put over --max-request-bytes: InvalidArgument "etcdserver: request is too large"', async () => {
    const r = await etcd.call('KV', 'Put', { key: b('big'), value: Buffer.alloc(1_600_000, 0x61) });
    expect(r).toEqual({
      ok: false,
      code: status.INVALID_ARGUMENT,
      details: 'etcdserver: request is too large',
    });
    // Nothing was written.
    const get = await etcd.ok('KV', 'Range', { key: b('big') });
    expect(get.count).toBe('0');
  });
});
