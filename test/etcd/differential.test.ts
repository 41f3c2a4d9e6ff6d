/**
 * Differential tests: scripted operation sequences sent to a real etcd 3.4 and to statecar, every answer compared
 * field by field (cluster/member IDs and raft term excepted), error codes and messages included. Both servers start
 * empty and receive the same writes in the same order, so revisions must agree throughout.
 */
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { haveEtcd, type RealEtcd } from '../support/etcd-server';
import { EtcdGrpcClient, b, type ServiceName, type WatchStreamClient } from './support/etcd-grpc-client';
import { both, normalize, settlePair, watchTranscript, type Pair } from './support/differential';
import { startEtcdAndStatecar, type StatecarTarget } from './support/statecar-target';

jest.setTimeout(60_000);

const describeIfEtcd = haveEtcd() ? describe : describe.skip;

describeIfEtcd('etcd API differential (real etcd 3.4 vs statecar)', () => {
  let etcd: RealEtcd;
  let statecar: StatecarTarget;
  let pair: Pair;

  beforeAll(async () => {
    ({ etcd, statecar } = await startEtcdAndStatecar());
    pair = { etcd: new EtcdGrpcClient(etcd.endpoint), statecar: new EtcdGrpcClient(statecar.endpoint) };
  });

  afterAll(async () => {
    pair?.etcd.close();
    pair?.statecar.close();
    await Promise.all([etcd?.stop(), statecar?.stop()]);
  });

  /** Same call on both; the answers must be equal. Returns statecar's normalized answer. */
  async function same(
    service: ServiceName,
    method: string,
    request: object,
  ): Promise<Record<string, unknown>> {
    const r = await both(pair, service, method, request);
    expect({ call: `${service}.${method}`, answer: r.statecar }).toEqual({
      call: `${service}.${method}`,
      answer: r.etcd,
    });
    return r.statecar as Record<string, unknown>;
  }

  const put = (key: string, value: string, extra: object = {}) =>
    same('KV', 'Put', { key: b(key), value: b(value), ...extra });
  const range = (req: object) => same('KV', 'Range', req);
  const rev = (r: Record<string, unknown>): number => Number((r.header as { revision: string }).revision);

  /** Open a watch stream on both. */
  function watchBoth(): { etcd: WatchStreamClient; statecar: WatchStreamClient } {
    return { etcd: pair.etcd.watch(), statecar: pair.statecar.watch() };
  }

  test('fresh store: revision 1, first write 2, empty-key errors', async () => {
    const r = await range({ key: b('nothing') });
    expect(normalize(r)).toMatchObject({ header: { revision: '1' } });
    await put('a', '1');
    await range({ key: b('') });
    await same('KV', 'Put', { key: b(''), value: b('x') });
    await same('KV', 'DeleteRange', { key: b('') });
  });

  test('put: prev_kv, ignore_value, ignore_lease, overwrite metadata', async () => {
    await put('p/1', 'v1', { prev_kv: true });
    await put('p/1', 'v2', { prev_kv: true });
    await put('p/1', '', { ignore_value: true, prev_kv: true });
    await put('p/1', 'x', { ignore_value: true });
    await put('p/missing', '', { ignore_value: true });
    await put('p/missing', 'v', { ignore_lease: true });
    await put('p/1', 'v3', { ignore_lease: true, lease: '5' });
    await put('p/1', 'v4', { lease: '12345' });
    await range({ key: b('p/1') });
  });

  test('range: prefix, from-key, all keys, limits, sort, filters, keys_only, count_only', async () => {
    for (const [k, v] of [
      ['r/c', '3'],
      ['r/a', '9'],
      ['r/b', '1'],
      ['r/a', '8'],
      ['r/d', '5'],
      ['r/b', '2'],
      ['r/a', '7'],
    ]) {
      await put(k!, v!);
    }
    const prefix = { key: b('r/'), range_end: b('r0') };
    await range(prefix);
    await range({ key: b('r/b'), range_end: Buffer.from([0]) });
    await range({ key: Buffer.from([0]), range_end: Buffer.from([0]) });
    await range({ ...prefix, limit: '2' });
    await range({ ...prefix, limit: '-1' });
    await range({ ...prefix, limit: '4' });
    await range({ ...prefix, limit: '5' });
    await range({ key: b('z'), range_end: b('a') });
    await range({ ...prefix, keys_only: true });
    await range({ ...prefix, count_only: true });
    await range({ ...prefix, sort_order: 'DESCEND' });
    await range({ ...prefix, sort_order: 'DESCEND', limit: '2' });
    await range({ ...prefix, sort_target: 'VALUE' });
    await range({ ...prefix, sort_target: 'VALUE', sort_order: 'DESCEND', limit: '3' });
    await range({ ...prefix, sort_target: 'MOD', sort_order: 'DESCEND' });
    await range({ ...prefix, sort_target: 'CREATE', sort_order: 'ASCEND', limit: '1' });
    await range({ ...prefix, sort_target: 'VERSION', sort_order: 'DESCEND', limit: '1' });
    const cur = rev(await range({ key: b('r/a') }));
    await range({ ...prefix, min_mod_revision: String(cur - 2) });
    await range({ ...prefix, max_mod_revision: String(cur - 3), limit: '1' });
    await range({
      ...prefix,
      min_create_revision: String(cur - 3),
      sort_target: 'CREATE',
      sort_order: 'DESCEND',
    });
    await range({
      ...prefix,
      max_create_revision: String(cur - 4),
      sort_target: 'CREATE',
      sort_order: 'DESCEND',
      limit: '1',
    });
    // Out-of-range inputs etcd accepts: negative bounds, unknown enum values, ties under a limit.
    await range({ ...prefix, min_mod_revision: '-1' });
    await range({ ...prefix, max_mod_revision: '-1' });
    await range({ ...prefix, max_create_revision: '-7', limit: '1' });
    await range({ ...prefix, sort_order: 7 });
    await range({ ...prefix, sort_target: 'VERSION', sort_order: 'DESCEND', limit: '2' });
    await range({ ...prefix, sort_target: 'VERSION', sort_order: 'ASCEND', limit: '2' });
    await range({ ...prefix, revision: '-3' });
  });

  test('range: history, future and compacted revisions; compaction rules', async () => {
    await put('h', '1');
    const r1 = await put('h', '2');
    const hrev = rev(r1);
    await put('h', '3');
    await range({ key: b('h'), revision: String(hrev - 1) });
    await range({ key: b('h'), revision: String(hrev) });
    await range({ key: b('h'), revision: String(hrev + 2) });
    await range({ key: b('h'), revision: String(hrev + 1000) });
    await same('KV', 'Compact', { revision: String(hrev) });
    await range({ key: b('h'), revision: String(hrev - 1) });
    await range({ key: b('h'), revision: String(hrev) });
    await same('KV', 'Compact', { revision: String(hrev) });
    await same('KV', 'Compact', { revision: String(hrev - 1) });
    await same('KV', 'Compact', { revision: String(hrev + 1000) });
    await same('KV', 'Compact', { revision: String(hrev + 1), physical: true });
    // Compacting at exactly the current revision is allowed.
    const cur = (await range({ key: b('h') })).header as { revision: string };
    await same('KV', 'Compact', { revision: cur.revision });
    await range({ key: b('h') });
  });

  test('delete: single, range, prefix, prev_kv, nothing', async () => {
    for (const k of ['d/a', 'd/b', 'd/c', 'd/d', 'd/e']) await put(k, k);
    await same('KV', 'DeleteRange', { key: b('d/a'), prev_kv: true });
    await same('KV', 'DeleteRange', { key: b('d/a') });
    await same('KV', 'DeleteRange', { key: b('d/b'), range_end: b('d/d'), prev_kv: true });
    await same('KV', 'DeleteRange', { key: b('d/'), range_end: b('d0') });
    await same('KV', 'DeleteRange', { key: b('d/'), range_end: b('d0') });
    // A delete ends the generation: the next put starts at version 1 with a new create revision.
    await put('d/a', 'again');
    await range({ key: b('d/a') });
  });

  test('txn: compares, branches, nested txns, inner headers', async () => {
    await put('t/a', '1');
    await put('t/b', '2');
    const cmp = (target: string, result: string, field: string, value: unknown, key = 't/a') => ({
      key: b(key),
      target,
      result,
      [field]: value,
    });
    const ops = {
      success: [{ request_put: { key: b('t/s'), value: b('yes') } }, { request_range: { key: b('t/s') } }],
      failure: [{ request_range: { key: b('t/'), range_end: b('t0') } }],
    };
    await same('KV', 'Txn', { compare: [cmp('VALUE', 'EQUAL', 'value', b('1'))], ...ops });
    await same('KV', 'Txn', { compare: [cmp('VALUE', 'GREATER', 'value', b('0'))], ...ops });
    await same('KV', 'Txn', { compare: [cmp('VERSION', 'LESS', 'version', '1')], ...ops });
    await same('KV', 'Txn', { compare: [cmp('CREATE', 'EQUAL', 'create_revision', '0', 't/none')], ...ops });
    await same('KV', 'Txn', { compare: [cmp('VALUE', 'NOT_EQUAL', 'value', b('z'), 't/none')], ...ops });
    await same('KV', 'Txn', { compare: [cmp('MOD', 'GREATER', 'mod_revision', '0')], ...ops });
    await same('KV', 'Txn', { compare: [cmp('LEASE', 'EQUAL', 'lease', '0')], ...ops });
    // Range compare: must hold for every key in the range.
    await same('KV', 'Txn', {
      compare: [{ ...cmp('VERSION', 'GREATER', 'version', '0'), range_end: b('t0') }],
      ...ops,
    });
    await same('KV', 'Txn', {
      compare: [{ ...cmp('VALUE', 'LESS', 'value', b('2')), range_end: b('t0') }],
      ...ops,
    });
    // Nested txn: its compares see the pre-txn state.
    await same('KV', 'Txn', {
      success: [
        { request_put: { key: b('t/n'), value: b('1') } },
        {
          request_txn: {
            compare: [cmp('VERSION', 'EQUAL', 'version', '1', 't/n')],
            success: [{ request_put: { key: b('t/n2'), value: b('s') } }],
            failure: [
              { request_put: { key: b('t/n2'), value: b('f') } },
              { request_range: { key: b('t/n') } },
            ],
          },
        },
        { request_delete_range: { key: b('t/zz'), prev_kv: true } },
      ],
    });
    // Read-only and failed txns do not bump the revision.
    await same('KV', 'Txn', { success: [{ request_range: { key: b('t/a') } }] });
    await same('KV', 'Txn', { compare: [cmp('VALUE', 'EQUAL', 'value', b('nope'))], success: ops.success });
    await same('KV', 'Txn', {});
    // The operand comes from the oneof member matching `target`; another member counts as zero/empty.
    await same('KV', 'Txn', { compare: [cmp('VALUE', 'EQUAL', 'version', '1')] });
    await same('KV', 'Txn', { compare: [cmp('VERSION', 'EQUAL', 'value', b('1'))] });
    // Compare over [key, "\0") and over an empty range.
    await same('KV', 'Txn', {
      compare: [{ ...cmp('VERSION', 'GREATER', 'version', '0'), range_end: Buffer.from([0]) }],
    });
    await same('KV', 'Txn', {
      compare: [{ ...cmp('VERSION', 'EQUAL', 'version', '0', 't/z'), range_end: b('t/a') }],
    });
    // A negative revision inside a txn before any compaction reads the latest revision.
    await same('KV', 'Txn', { success: [{ request_range: { key: b('t/a'), revision: '-1' } }] });
  });

  test('txn: validation errors', async () => {
    const p = (k: string) => ({ request_put: { key: b(k), value: b('v') } });
    await same('KV', 'Txn', { success: [p('x'), p('x')] });
    await same('KV', 'Txn', {
      success: [{ request_delete_range: { key: b('x'), range_end: b('y') } }, p('x1')],
    });
    await same('KV', 'Txn', {
      success: [{ request_delete_range: { key: b('x') } }, { request_delete_range: { key: b('x') } }],
    });
    await same('KV', 'Txn', { success: [p('x'), { request_txn: { success: [p('x')] } }] });
    await same('KV', 'Txn', { success: [{ request_txn: { success: [p('q')], failure: [p('q')] } }] });
    await same('KV', 'Txn', { success: [p('')] });
    await same('KV', 'Txn', { compare: [{ key: b(''), target: 'VERSION', result: 'EQUAL' }] });
    await same('KV', 'Txn', { success: [{}] });
    await same('KV', 'Txn', { success: Array.from({ length: 129 }, (_, i) => p(`many/${i}`)) });
    await same('KV', 'Txn', {
      success: Array.from({ length: 128 }, (_, i) => ({ request_range: { key: b(`many/${i}`) } })),
    });
    await same('KV', 'Txn', { success: [{ request_put: { key: b('x'), value: b('v'), lease: '777' } }] });
    await same('KV', 'Txn', { success: [{ request_put: { key: b('nokey'), ignore_value: true } }] });
    await same('KV', 'Txn', { success: [{ request_range: { key: b('x'), revision: '100000' } }, p('x')] });
    await range({ key: b('x') });
  });

  test('request size limits', async () => {
    await put('big', 'x'.repeat(1_600_000));
    await put('huge', 'x'.repeat(2_200_000));
    await put('ok', 'x'.repeat(1_000_000));
    await range({ key: b('nothing') });
  });

  test('leases: grant, errors, attach, timetolive, keepalive, revoke, list', async () => {
    const id = '7587869183234040001';
    const id2 = '7587869183234040002';
    await same('Lease', 'LeaseGrant', { TTL: '60', ID: id });
    await same('Lease', 'LeaseGrant', { TTL: '1', ID: id2 });
    await same('Lease', 'LeaseGrant', { TTL: '60', ID: id });
    await same('Lease', 'LeaseGrant', { TTL: '9000000001', ID: '3' });
    await same('Lease', 'LeaseGrant', { TTL: '9000000000', ID: '4' });
    await same('Lease', 'LeaseGrant', { TTL: '-5', ID: '5' });
    await same('Lease', 'LeaseRevoke', { ID: '4' });
    await same('Lease', 'LeaseRevoke', { ID: '5' });
    await put('l/a', '1', { lease: id });
    await put('l/b', '2', { lease: id });
    await put('l/x', '3', { lease: '99' });
    await range({ key: b('l/'), range_end: b('l0') });
    const ttl = (await both(pair, 'Lease', 'LeaseTimeToLive', { ID: id, keys: true })) as {
      etcd: Record<string, unknown>;
      statecar: Record<string, unknown>;
    };
    const sortKeys = (r: Record<string, unknown>) => ({
      ...r,
      TTL: undefined,
      keys: [...(r.keys as string[])].sort(),
    });
    expect(sortKeys(ttl.statecar)).toEqual(sortKeys(ttl.etcd));
    await same('Lease', 'LeaseTimeToLive', { ID: '424242' });
    await same('Lease', 'LeaseRevoke', { ID: '424242' });
    await same('Lease', 'LeaseRevoke', { ID: id2 });
    await same('Lease', 'LeaseRevoke', { ID: id });
    await range({ key: b('l/'), range_end: b('l0') });
    await same('Lease', 'LeaseLeases', {});
  });

  test('watch: ids, in-band errors, filters, prev_kv, history, cancel, progress', async () => {
    const w = watchBoth();
    const send = (req: object) => {
      w.etcd.send(req);
      w.statecar.send(req);
    };
    send({ create_request: { key: b('w/'), range_end: b('w0'), prev_kv: true } });
    send({ create_request: { key: b('w/a') } });
    send({ create_request: { key: b('w/a'), watch_id: '1' } });
    send({ create_request: { key: b('w/z'), range_end: b('w/a') } });
    send({ create_request: { key: b('w/'), range_end: b('w0'), watch_id: '7', filters: ['NOPUT'] } });
    send({ create_request: { key: b('w/'), range_end: b('w0'), filters: ['NODELETE'] } });
    send({ cancel_request: { watch_id: '42' } });
    await Promise.all([w.etcd.waitFor(6), w.statecar.waitFor(6)]);
    await put('w/a', '1');
    await put('w/a', '2');
    await same('KV', 'Txn', {
      success: [
        { request_put: { key: b('w/b'), value: b('x') } },
        { request_put: { key: b('w/c'), value: b('y') } },
      ],
    });
    await same('KV', 'DeleteRange', { key: b('w/'), range_end: b('w0') });
    await settlePair(w);
    send({ progress_request: {} });
    send({ cancel_request: { watch_id: '0' } });
    await settlePair(w);
    await put('w/a', 'after-cancel');
    // History: replay from the first w/ write, then live.
    const first = Number(
      ((await range({ key: b('w/a') })) as { kvs: { create_revision: string }[] }).kvs[0]!.create_revision,
    );
    send({
      create_request: { key: b('w/'), range_end: b('w0'), start_revision: String(first - 5), prev_kv: true },
    });
    await settlePair(w);
    await put('w/b', 'live');
    await settlePair(w);
    expect(watchTranscript(w.statecar)).toEqual(watchTranscript(w.etcd));
    expect(w.statecar.error).toBeUndefined();
    w.etcd.close();
    w.statecar.close();
  });

  test('watch: compacted start revision is canceled with compact_revision', async () => {
    await put('wc', '1');
    const r = await put('wc', '2');
    const crev = rev(r);
    await same('KV', 'Compact', { revision: String(crev) });
    const w = watchBoth();
    const send = (req: object) => {
      w.etcd.send(req);
      w.statecar.send(req);
    };
    send({ create_request: { key: b('wc'), start_revision: String(crev - 1) } });
    send({ create_request: { key: b('wc'), start_revision: String(crev), watch_id: '5' } });
    await settlePair(w);
    expect(watchTranscript(w.statecar)).toEqual(watchTranscript(w.etcd));
    w.etcd.close();
    w.statecar.close();
  });

  test('lease revoke and expiry delete keys as DELETE events at one revision', async () => {
    const id = '7587869183234040100';
    await same('Lease', 'LeaseGrant', { TTL: '60', ID: id });
    await put('le/a', '1', { lease: id });
    await put('le/b', '2', { lease: id });
    const w = watchBoth();
    w.etcd.send({ create_request: { key: b('le/'), range_end: b('le0'), prev_kv: true } });
    w.statecar.send({ create_request: { key: b('le/'), range_end: b('le0'), prev_kv: true } });
    await Promise.all([w.etcd.waitFor(1), w.statecar.waitFor(1)]);
    await same('Lease', 'LeaseRevoke', { ID: id });
    await settlePair(w);
    expect(watchTranscript(w.statecar)).toEqual(watchTranscript(w.etcd));
    w.etcd.close();
    w.statecar.close();
  });

  test('lease keep-alive stream: granted TTL, TTL 0 for unknown leases', async () => {
    const id = '7587869183234040200';
    await same('Lease', 'LeaseGrant', { TTL: '30', ID: id });
    const collect = async (c: EtcdGrpcClient) => {
      const call = c.client('Lease').LeaseKeepAlive!() as ClientDuplexStream<object, Record<string, unknown>>;
      const out: unknown[] = [];
      call.on('error', () => undefined);
      call.on('data', (r: Record<string, unknown>) => out.push(normalize(r)));
      call.write({ ID: id });
      call.write({ ID: '1234' });
      call.write({ ID: id });
      const deadline = Date.now() + 5000;
      while (out.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      call.cancel();
      return out;
    };
    expect(await collect(pair.statecar)).toEqual(await collect(pair.etcd));
    await same('Lease', 'LeaseRevoke', { ID: id });
  });

  test('Lock and Election services', async () => {
    const lease = '7587869183234040300';
    await same('Lease', 'LeaseGrant', { TTL: '60', ID: lease });
    await same('Lock', 'Lock', { name: b('mylock'), lease });
    await same('Lock', 'Lock', { name: b('mylock'), lease });
    await same('Lock', 'Lock', { name: b('mylock'), lease: '31337' });
    await range({ key: b('mylock/'), range_end: b('mylock0') });
    await same('Lock', 'Unlock', { key: b('mylock/' + BigInt(lease).toString(16)) });
    await same('Lock', 'Unlock', { key: b('mylock/absent') });
    await same('Election', 'Leader', { name: b('el') });
    const c = await same('Election', 'Campaign', { name: b('el'), lease, value: b('one') });
    const leader = c.leader as Record<string, unknown>;
    const wire = { ...leader, name: b(String(leader.name)), key: b(String(leader.key)) };
    await same('Election', 'Leader', { name: b('el') });
    await same('Election', 'Proclaim', { leader: wire, value: b('two') });
    await same('Election', 'Proclaim', { leader: { ...wire, rev: '1' }, value: b('three') });
    await same('Election', 'Proclaim', { value: b('x') });
    await same('Election', 'Leader', { name: b('el') });
    // Campaigning again with the same lease and another value proclaims it.
    await same('Election', 'Campaign', { name: b('el'), lease, value: b('four') });
    await same('Election', 'Resign', { leader: { ...wire, rev: '1' } });
    await same('Election', 'Resign', { leader: wire });
    await same('Election', 'Leader', { name: b('el') });
    await same('Lease', 'LeaseRevoke', { ID: lease });
  });

  test('status, member list and alarms answer with the same shape', async () => {
    const st = await both(pair, 'Maintenance', 'Status', {});
    const shape = (x: unknown) => Object.keys(x as object).sort();
    expect(shape(st.statecar)).toEqual(shape(st.etcd));
    const ml = await both(pair, 'Cluster', 'MemberList', {});
    expect(normalize(ml.statecar)).toMatchObject({
      header: { revision: '0' },
      members: [{ isLearner: false }],
    });
    await same('Maintenance', 'Alarm', { action: 'GET' });
  });
});
