/**
 * The JSON gateway, differentially: the same HTTP/1.1 requests go to a real etcd 3.4's client port and to statecar's
 * `--etcd-port`, and the answers are compared — HTTP status, content type and body — with revisions made relative to
 * the revision each server had when the test began, and cluster identity (IDs, names, URLs, versions) left out.
 * Every route statecar serves is covered, and every error: malformed JSON, wrong types, unknown fields, bad base64,
 * compacted and future revisions, a missing lease, too large a request, unknown routes and methods.
 */
import http from 'node:http';
import { haveEtcd, type RealEtcd } from '../support/etcd-server';
import { startEtcdAndStatecar, type StatecarTarget } from '../etcd/support/statecar-target';
import { GatewayStream, request, type GatewayReply } from './support/gateway-http';

jest.setTimeout(120_000);

const describeIfEtcd = haveEtcd() ? describe : describe.skip;

type SideName = 'etcd' | 'statecar';
const SIDES: SideName[] = ['etcd', 'statecar'];

/** POST `body` as JSON and read the whole answer as text (a stream's lines, say), within 30 s. */
function postText(
  base: string,
  path: string,
  body: unknown,
  headers: Record<string, string>,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}${path}`,
      { method: 'POST', headers, agent: false, timeout: 30_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${path}: no end within 30 s`)));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** base64 of a UTF-8 string. */
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** Fields holding a revision: compared relative to the test's starting revision. */
const REVISION_FIELDS = new Set(['revision', 'create_revision', 'mod_revision', 'compact_revision', 'rev']);
/** Header fields that name the cluster, not the data. */
const IDENTITY_HEADER_FIELDS = new Set(['cluster_id', 'member_id', 'raft_term']);

/** Relative revisions, identity dropped, and `replace` (field → placeholder) for values that legitimately differ. */
function normalizeJson(v: unknown, base: number, replace: Record<string, string>, key = ''): unknown {
  if (Array.isArray(v)) return v.map((x) => normalizeJson(x, base, replace, key));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (key === 'header' && IDENTITY_HEADER_FIELDS.has(k)) continue;
      if (k in replace) {
        out[k] = replace[k];
        continue;
      }
      out[k] = normalizeJson(x, base, replace, k);
    }
    return out;
  }
  if (REVISION_FIELDS.has(key) && typeof v === 'string' && /^-?\d+$/.test(v)) return `rev${Number(v) - base}`;
  return v;
}

interface Normalized {
  status: number;
  type: string;
  body: unknown;
}

describeIfEtcd('etcd JSON gateway: real etcd 3.4 vs statecar, route by route', () => {
  let etcd: RealEtcd;
  let statecar: StatecarTarget;
  const baseUrl: Record<SideName, string> = { etcd: '', statecar: '' };
  /** Each side's revision when the current test began. */
  const base: Record<SideName, number> = { etcd: 0, statecar: 0 };

  beforeAll(async () => {
    ({ etcd, statecar } = await startEtcdAndStatecar());
    baseUrl.etcd = `http://127.0.0.1:${etcd.clientPort}`;
    baseUrl.statecar = `http://${statecar.endpoint}`;
  });

  afterAll(async () => {
    await Promise.all([etcd?.stop(), statecar?.stop()]);
  });

  async function revisionOf(side: SideName): Promise<number> {
    const r = await request(baseUrl[side], '/v3/kv/range', JSON.stringify({ key: b64('\0') }));
    return Number((r.json as { header: { revision: string } }).header.revision);
  }

  beforeEach(async () => {
    for (const side of SIDES) base[side] = await revisionOf(side);
  });

  /** Revision `n` after the test's start, on one side. */
  const revOn = (side: SideName) => (n: number) => base[side] + n;

  type Body = string | ((side: SideName, rev: (n: number) => number) => unknown);

  function bodyFor(body: Body, side: SideName): string {
    return typeof body === 'string' ? body : JSON.stringify(body(side, revOn(side)));
  }

  function normalize(side: SideName, r: GatewayReply, replace: Record<string, string>): Normalized {
    return {
      status: r.status,
      type: r.type,
      body: r.type === 'json' ? normalizeJson(r.json, base[side], replace) : r.body,
    };
  }

  interface Options {
    replace?: Record<string, string>;
    method?: string;
    headers?: Record<string, string> | ((side: SideName) => Record<string, string>);
  }

  /** The same request to both (etcd first); the normalized answers must be equal. Returns both raw answers. */
  async function same(path: string, body: Body, opts: Options = {}): Promise<Record<SideName, GatewayReply>> {
    const raw = {} as Record<SideName, GatewayReply>;
    for (const side of SIDES) {
      raw[side] = await request(baseUrl[side], path, bodyFor(body, side), {
        method: opts.method,
        headers: typeof opts.headers === 'function' ? opts.headers(side) : opts.headers,
      });
    }
    const want = {
      path,
      body: bodyFor(body, 'etcd'),
      answer: normalize('etcd', raw.etcd, opts.replace ?? {}),
    };
    const got = {
      path,
      body: bodyFor(body, 'etcd'),
      answer: normalize('statecar', raw.statecar, opts.replace ?? {}),
    };
    expect(got).toEqual(want);
    return raw;
  }

  /** Streams on both; compared once both hold the same number of messages and nothing more arrives. */
  async function sameStream(
    path: string,
    body: Body,
    act: (streams: Record<SideName, GatewayStream>) => Promise<void> = async () => undefined,
    opts: { replace?: Record<string, string>; expectMessages?: number } = {},
  ): Promise<Record<SideName, GatewayStream>> {
    const streams = {} as Record<SideName, GatewayStream>;
    for (const side of SIDES) streams[side] = new GatewayStream(baseUrl[side], path, bodyFor(body, side));
    try {
      await act(streams);
      await settle(streams, opts.expectMessages);
      const view = (side: SideName) => ({
        path,
        status: streams[side].status,
        messages: streams[side].messages.map((m) => normalizeJson(m, base[side], opts.replace ?? {})),
      });
      expect(view('statecar')).toEqual(view('etcd'));
    } finally {
      for (const side of SIDES) streams[side].close();
    }
    return streams;
  }

  /** Until both streams hold `n` messages (or the same number, quiet for a while). */
  async function settle(streams: Record<SideName, GatewayStream>, n?: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    let last = '';
    for (;;) {
      const counts = `${streams.etcd.messages.length}/${streams.statecar.messages.length}`;
      const equal = streams.etcd.messages.length === streams.statecar.messages.length;
      if (n !== undefined && streams.etcd.messages.length >= n && streams.statecar.messages.length >= n)
        return;
      if (n === undefined && counts === last && equal && streams.etcd.messages.length > 0) return;
      if (Date.now() > deadline) return;
      last = counts;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  const put = (key: string, value: string, extra: object = {}) =>
    same('/v3/kv/put', JSON.stringify({ key: b64(key), value: b64(value), ...extra }));

  test('KV range: point, prefix, limit and sort, count and keys only, by revision, both field spellings', async () => {
    await put('kv/a', '1');
    await put('kv/b', '2');
    await put('kv/c', '3');
    await put('kv/a', '4');
    await same('/v3/kv/range', JSON.stringify({ key: b64('kv/a') }));
    await same('/v3/kv/range', JSON.stringify({ key: b64('kv/'), range_end: b64('kv0') }));
    await same('/v3/kv/range', JSON.stringify({ key: b64('kv/'), rangeEnd: b64('kv0'), limit: 2 }));
    await same(
      '/v3/kv/range',
      JSON.stringify({
        key: b64('kv/'),
        range_end: b64('kv0'),
        limit: '1',
        sort_order: 'DESCEND',
        sort_target: 'MOD',
      }),
    );
    await same(
      '/v3/kv/range',
      JSON.stringify({ key: b64('kv/'), range_end: b64('kv0'), sort_order: 1, sort_target: 4 }),
    );
    await same('/v3/kv/range', JSON.stringify({ key: b64('kv/'), range_end: b64('kv0'), count_only: true }));
    await same('/v3/kv/range', JSON.stringify({ key: b64('kv/'), range_end: b64('kv0'), keys_only: true }));
    await same(
      '/v3/kv/range',
      JSON.stringify({ key: b64('kv/'), range_end: b64('kv0'), serializable: true }),
    );
    await same('/v3/kv/range', (_s, rev) => ({ key: b64('kv/a'), revision: rev(0) - 1 }));
    await same('/v3/kv/range', (_s, rev) => ({
      key: b64('kv/'),
      range_end: b64('kv0'),
      min_mod_revision: rev(0) - 1,
    }));
    await same('/v3/kv/range', JSON.stringify({ key: b64('absent') }));
    await same('/v3/kv/range', JSON.stringify({ key: 'AA==', range_end: 'AA==' }));
    // Unknown fields are ignored, and what follows the first JSON value is not read.
    await same('/v3/kv/range', JSON.stringify({ key: b64('kv/a'), no_such_field: [1, { x: 2 }] }));
    await same('/v3/kv/range', `${JSON.stringify({ key: b64('kv/a') })} trailing {"key": 1`);
    // Base64 as Go reads it: newlines skipped, padding bits ignored.
    await same('/v3/kv/range', '{"key": "a3Yv\\nYQ=="}');
    await same('/v3/kv/range', '{"key": "a3Yh"}');
  });

  test('KV put, deleterange and txn, with prev_kv, ignore_value and nested responses', async () => {
    await put('w/x', 'one');
    await put('w/x', 'two', { prev_kv: true });
    await same('/v3/kv/put', JSON.stringify({ key: b64('w/x'), ignore_value: true, prev_kv: true }));
    await same('/v3/kv/put', JSON.stringify({ key: b64('w/absent'), ignore_value: true }));
    await same('/v3/kv/put', JSON.stringify({ key: b64('w/y'), value: b64(''), prev_kv: true }));
    await same('/v3/kv/deleterange', JSON.stringify({ key: b64('w/y'), prev_kv: true }));
    await same('/v3/kv/deleterange', JSON.stringify({ key: b64('w/'), range_end: b64('w0'), prev_kv: true }));
    await same('/v3/kv/deleterange', JSON.stringify({ key: b64('w/'), range_end: b64('w0') }));
    await put('t/k', 'v1');
    const txn = (value: string) => ({
      compare: [{ key: b64('t/k'), result: 'EQUAL', target: 'VALUE', value: b64(value) }],
      success: [
        { request_put: { key: b64('t/k'), value: b64('v2'), prev_kv: true } },
        { request_range: { key: b64('t/'), range_end: b64('t0') } },
      ],
      failure: [{ request_delete_range: { key: b64('t/none') } }],
    });
    await same('/v3/kv/txn', JSON.stringify(txn('v1')));
    await same('/v3/kv/txn', JSON.stringify(txn('v1')));
    // Patroni's shapes: create-if-absent and compare-and-swap on mod_revision, enums by number.
    await same(
      '/v3/kv/txn',
      JSON.stringify({
        compare: [{ key: b64('t/leader'), result: 0, target: 1, create_revision: '0' }],
        success: [{ request_put: { key: b64('t/leader'), value: b64('node1') } }],
      }),
    );
    await same('/v3/kv/txn', (_s, rev) => ({
      compare: [{ key: b64('t/leader'), result: 'EQUAL', target: 'MOD', mod_revision: rev(1) }],
      success: [{ request_delete_range: { key: b64('t/leader'), prev_kv: true } }],
      failure: [{ request_range: { key: b64('t/leader') } }],
    }));
    await same(
      '/v3/kv/txn',
      JSON.stringify({ success: [{ request_txn: { success: [{ request_range: { key: b64('t/k') } }] } }] }),
    );
    await same(
      '/v3/kv/txn',
      JSON.stringify({
        success: [{ request_put: { key: b64('t/d') } }, { request_put: { key: b64('t/d') } }],
      }),
    );
  });

  test('compaction and the revisions it rules out; a future revision', async () => {
    await put('c/k', '1');
    await put('c/k', '2');
    await put('c/k', '3');
    await same('/v3/kv/range', (_s, rev) => ({ key: b64('c/k'), revision: rev(1000) }));
    await same('/v3/kv/compaction', (_s, rev) => ({ revision: rev(1000) }));
    await same('/v3/kv/compaction', (_s, rev) => ({ revision: rev(2), physical: true }));
    await same('/v3/kv/range', (_s, rev) => ({ key: b64('c/k'), revision: rev(1) }));
    await same('/v3/kv/range', (_s, rev) => ({ key: b64('c/k'), revision: rev(2) }));
    await same('/v3/kv/compaction', (_s, rev) => ({ revision: rev(1) }));
    await same('/v3/kv/txn', (_s, rev) => ({
      success: [{ request_range: { key: b64('c/k'), revision: rev(1) } }],
    }));
  });

  test('leases in both URL forms: grant, time to live, leases, keep-alive, revoke, and a missing lease', async () => {
    const ttl = { replace: { TTL: '<ttl>' } };
    await same('/v3/lease/grant', JSON.stringify({ TTL: 600, ID: 7001 }));
    await same('/v3/lease/grant', JSON.stringify({ TTL: '600', ID: '7001' }));
    await same('/v3/lease/grant', JSON.stringify({ TTL: 600 }), { replace: { ID: '<id>' } });
    await put('l/k', 'v', { lease: 7001 });
    await same('/v3/lease/timetolive', JSON.stringify({ ID: 7001, keys: true }), ttl);
    await same('/v3/kv/lease/timetolive', JSON.stringify({ ID: '7001' }), ttl);
    await same('/v3/lease/timetolive', JSON.stringify({ ID: 999 }), ttl);
    await same('/v3/kv/put', JSON.stringify({ key: b64('l/k2'), value: b64('v'), lease: 999 }));
    await same('/v3/kv/put', JSON.stringify({ key: b64('l/k'), value: b64('v2'), ignore_lease: true }));
    await sameStream('/v3/lease/keepalive', JSON.stringify({ ID: 7001 }), undefined, {
      ...ttl,
      expectMessages: 1,
    });
    await sameStream(
      '/v3/lease/keepalive',
      `${JSON.stringify({ ID: 7001 })}\n${JSON.stringify({ ID: '7001' })}`,
      undefined,
      { ...ttl, expectMessages: 2 },
    );
    await sameStream('/v3/lease/keepalive', JSON.stringify({ ID: 999 }), undefined, { expectMessages: 1 });
    await same('/v3/lease/revoke', JSON.stringify({ ID: 7001 }));
    await same('/v3/lease/revoke', JSON.stringify({ ID: 7001 }));
    await same('/v3/kv/lease/revoke', JSON.stringify({ ID: '999' }));
    await same('/v3/kv/range', JSON.stringify({ key: b64('l/k') }));
    await same('/v3/lease/grant', JSON.stringify({ TTL: 600, ID: 7002 }));
    await same('/v3/lease/grant', JSON.stringify({ TTL: 600, ID: 7002 }));
    await same('/v3/lease/leases', '{}', { replace: { leases: '<leases>' } });
    await same('/v3/kv/lease/leases', '{}', { replace: { leases: '<leases>' } });
    await same('/v3/lease/revoke', JSON.stringify({ ID: 7002 }));
  });

  test('watch: created, events with prev_kv and filters, history, cancel in the body, compacted start', async () => {
    await sameStream(
      '/v3/watch',
      JSON.stringify({ create_request: { key: b64('wa/'), range_end: b64('wa0'), prev_kv: true } }),
      async () => {
        await new Promise((r) => setTimeout(r, 300));
        await put('wa/1', 'x');
        await put('wa/1', 'y');
        await same('/v3/kv/deleterange', JSON.stringify({ key: b64('wa/1') }));
      },
      { expectMessages: 4 },
    );
    await sameStream(
      '/v3/watch',
      (_s, rev) => ({ create_request: { key: b64('wa/1'), start_revision: rev(-2), filters: ['NODELETE'] } }),
      undefined,
      { expectMessages: 2 },
    );
    await sameStream(
      '/v3/watch',
      (_s, rev) => ({ create_request: { key: b64('wa/1'), start_revision: rev(-2), filters: [0] } }),
      undefined,
      { expectMessages: 2 },
    );
    await sameStream(
      '/v3/watch',
      [
        { create_request: { key: b64('wb/a') } },
        { create_request: { key: b64('wb/b'), watch_id: 5 } },
        { cancel_request: { watch_id: 5 } },
        { cancel_request: { watch_id: 77 } },
        { progress_request: {} },
      ]
        .map((m) => JSON.stringify(m))
        .join(''),
      undefined,
      { expectMessages: 4 },
    );
    await same('/v3/kv/compaction', (_s, rev) => ({ revision: rev(0) }));
    await sameStream(
      '/v3/watch',
      (_s, rev) => ({ create_request: { key: b64('wa/1'), start_revision: rev(-3) } }),
      undefined,
      { expectMessages: 2 },
    );
    await sameStream('/v3/watch', JSON.stringify({ create_request: { key: '' } }), undefined, {
      expectMessages: 1,
    });
    await sameStream(
      '/v3/watch',
      JSON.stringify({ create_request: { key: b64('b'), range_end: b64('a') } }),
      undefined,
      { expectMessages: 1 },
    );
    // A first message that cannot be read is an ordinary error answer; a later one just ends the requests.
    await same('/v3/watch', '{"create_request": {"key": "!!"}}');
    await same('/v3/watch', '{"create_request": ');
    await sameStream(
      '/v3/watch',
      `${JSON.stringify({ create_request: { key: b64('wc') } })}{"create_request": {"key": 5}}`,
      undefined,
      { expectMessages: 1 },
    );
  });

  test('maintenance status and alarm, cluster member list (identity left out)', async () => {
    await put('status/k', 'v');
    await same('/v3/maintenance/status', '{}', {
      replace: {
        version: '<version>',
        dbSize: '<size>',
        dbSizeInUse: '<size>',
        leader: '<member>',
        raftIndex: '<index>',
        raftAppliedIndex: '<index>',
        raftTerm: '<term>',
      },
    });
    await same('/v3/maintenance/alarm', '{}');
    await same('/v3/maintenance/alarm', JSON.stringify({ action: 'GET' }));
    // A NOSPACE alarm, raised through the API for the member, refuses writes until it is cleared.
    const memberOf = async (side: SideName): Promise<string> =>
      ((await request(baseUrl[side], '/v3/maintenance/status', '{}')).json as { leader: string }).leader;
    const member = { etcd: await memberOf('etcd'), statecar: await memberOf('statecar') };
    const alarm = { replace: { memberID: '<member>' } };
    const alarmBody = (action: string) => (side: SideName) => ({
      action,
      memberID: member[side],
      alarm: 'NOSPACE',
    });
    try {
      await same('/v3/maintenance/alarm', alarmBody('ACTIVATE'), alarm);
      await same('/v3/maintenance/alarm', JSON.stringify({ action: 'GET' }), alarm);
      await put('alarm/k', 'v');
      await same('/v3/kv/range', JSON.stringify({ key: b64('alarm/k') }));
    } finally {
      for (const side of SIDES) {
        await request(baseUrl[side], '/v3/maintenance/alarm', JSON.stringify(alarmBody('DEACTIVATE')(side)));
      }
    }
    await same('/v3/maintenance/alarm', alarmBody('DEACTIVATE'), alarm);
    await same('/v3/maintenance/alarm', JSON.stringify({ action: 'GET' }), alarm);
    await put('alarm/k', 'v');
    await same('/v3/maintenance/defragment', '{}');
    await same('/v3/maintenance/hash', '{}', { replace: { hash: '<hash>' } });
    await same('/v3/maintenance/transfer-leadership', JSON.stringify({ targetID: 1 }));
    // Membership changes of unknown members only: adding one to a real one-member etcd would cost it its quorum.
    await same('/v3/cluster/member/remove', JSON.stringify({ ID: 1 }));
    await same('/v3/cluster/member/update', JSON.stringify({ ID: '1', peerURLs: ['http://127.0.0.1:1'] }));
    await same('/v3/cluster/member/promote', JSON.stringify({ ID: 1 }));
    const members = await same('/v3/cluster/member/list', '{}', {
      replace: { ID: '<id>', name: '<name>', peerURLs: '<urls>', clientURLs: '<urls>' },
    });
    // Over HTTP the member's client URL is one an HTTP client can dial: the address it came in on.
    expect((members.statecar.json as { members: { clientURLs: string[] }[] }).members[0].clientURLs).toEqual([
      `http://${statecar.endpoint}`,
    ]);
  });

  test('lock and election: lock/unlock, campaign, leader, proclaim, observe, resign', async () => {
    await same('/v3/lease/grant', JSON.stringify({ TTL: 600, ID: 8001 }));
    await same('/v3/lease/grant', JSON.stringify({ TTL: 600, ID: 8002 }));
    const locked = await same('/v3/lock/lock', JSON.stringify({ name: b64('mtx'), lease: 8001 }));
    await same('/v3/lock/unlock', (side) => ({ key: (locked[side].json as { key: string }).key }));
    await same('/v3/lock/unlock', JSON.stringify({ key: b64('mtx/none') }));
    await same('/v3/lock/lock', JSON.stringify({ name: b64('mtx'), lease: 999 }));
    await same('/v3/election/leader', JSON.stringify({ name: b64('elec') }));
    const won = await same(
      '/v3/election/campaign',
      JSON.stringify({ name: b64('elec'), lease: 8002, value: b64('me') }),
    );
    const leaderOf = (side: SideName) => (won[side].json as { leader: unknown }).leader;
    await same('/v3/election/leader', JSON.stringify({ name: b64('elec') }));
    await sameStream(
      '/v3/election/observe',
      JSON.stringify({ name: b64('elec') }),
      async () => {
        await new Promise((r) => setTimeout(r, 300));
        await same('/v3/election/proclaim', (side) => ({ leader: leaderOf(side), value: b64('me again') }));
      },
      { expectMessages: 2 },
    );
    await same('/v3/election/proclaim', (side) => ({
      leader: { ...(leaderOf(side) as object), rev: '1' },
      value: b64('not the leader'),
    }));
    await same('/v3/election/proclaim', JSON.stringify({ value: b64('x') }));
    await same('/v3/election/resign', (side) => ({ leader: leaderOf(side) }));
    await same('/v3/election/leader', JSON.stringify({ name: b64('elec') }));
    await same('/v3/lease/revoke', JSON.stringify({ ID: 8001 }));
    await same('/v3/lease/revoke', JSON.stringify({ ID: 8002 }));
  });

  test('auth: users, roles, enable, the token in the Authorization header, permissions, disable', async () => {
    const token = { replace: { token: '<token>' } };
    await same('/v3/auth/authenticate', JSON.stringify({ name: 'root', password: 'x' }));
    await same('/v3/auth/user/add', JSON.stringify({ name: 'gw-user', password: 'pw' }));
    await same('/v3/auth/user/add', JSON.stringify({ name: 'gw-user', password: 'pw' }));
    await same('/v3/auth/role/add', JSON.stringify({ name: 'gw-role' }));
    await same(
      '/v3/auth/role/grant',
      JSON.stringify({
        name: 'gw-role',
        perm: { permType: 'READ', key: b64('perm/'), range_end: b64('perm0') },
      }),
    );
    await same('/v3/auth/user/grant', JSON.stringify({ user: 'gw-user', role: 'gw-role' }));
    await same('/v3/auth/user/get', JSON.stringify({ name: 'gw-user' }));
    await same('/v3/auth/user/list', '{}');
    await same('/v3/auth/role/list', '{}');
    await same('/v3/auth/role/get', JSON.stringify({ role: 'gw-role' }));
    await same('/v3/auth/user/changepw', JSON.stringify({ name: 'gw-user', password: 'pw2' }));
    await same('/v3/auth/enable', '{}');
    await same('/v3/auth/user/add', JSON.stringify({ name: 'root', password: 'rootpw' }));
    await same('/v3/auth/enable', '{}');
    await same('/v3/auth/role/add', JSON.stringify({ name: 'root' }));
    await same('/v3/auth/user/grant', JSON.stringify({ user: 'root', role: 'root' }));
    await same('/v3/auth/enable', '{}');
    try {
      await same('/v3/kv/range', JSON.stringify({ key: b64('perm/a') }));
      await same('/v3/auth/authenticate', JSON.stringify({ name: 'root', password: 'wrong' }));
      const root = await same(
        '/v3/auth/authenticate',
        JSON.stringify({ name: 'root', password: 'rootpw' }),
        token,
      );
      const user = await same(
        '/v3/auth/authenticate',
        JSON.stringify({ name: 'gw-user', password: 'pw2' }),
        token,
      );
      const as = (r: Record<SideName, GatewayReply>) => (side: SideName) => ({
        Authorization: (r[side].json as { token: string }).token,
      });
      await same('/v3/kv/put', JSON.stringify({ key: b64('perm/a'), value: b64('1') }), {
        headers: as(root),
      });
      await same('/v3/kv/range', JSON.stringify({ key: b64('perm/a') }), { headers: as(user) });
      await same('/v3/kv/put', JSON.stringify({ key: b64('perm/a'), value: b64('2') }), {
        headers: as(user),
      });
      await same('/v3/kv/range', JSON.stringify({ key: b64('other') }), { headers: as(user) });
      await same('/v3/kv/range', JSON.stringify({ key: b64('perm/a') }), {
        headers: { Authorization: 'bogus' },
      });
      await same('/v3/auth/user/list', '{}', { headers: as(user) });
      await same('/v3/auth/disable', '{}', { headers: as(root) });
    } finally {
      // Leave both servers without auth even when a comparison failed, so later tests still compare.
      for (const side of SIDES) {
        const t = await request(
          baseUrl[side],
          '/v3/auth/authenticate',
          JSON.stringify({ name: 'root', password: 'rootpw' }),
        );
        const tok = (t.json as { token?: string } | undefined)?.token;
        if (tok) await request(baseUrl[side], '/v3/auth/disable', '{}', { headers: { Authorization: tok } });
      }
    }
    await same(
      '/v3/auth/role/revoke',
      JSON.stringify({ role: 'gw-role', key: b64('perm/'), range_end: b64('perm0') }),
    );
    await same('/v3/auth/user/revoke', JSON.stringify({ name: 'gw-user', role: 'gw-role' }));
    await same('/v3/auth/user/delete', JSON.stringify({ name: 'gw-user' }));
    await same('/v3/auth/user/delete', JSON.stringify({ name: 'root' }));
    await same('/v3/auth/role/delete', JSON.stringify({ role: 'gw-role' }));
    await same('/v3/auth/role/delete', JSON.stringify({ role: 'root' }));
    await same('/v3/auth/role/get', JSON.stringify({ role: 'gw-role' }));
  });

  test('malformed JSON, wrong types, enums and base64: the same error text and status as etcd', async () => {
    const bodies = [
      '',
      '   ',
      'null',
      'hello',
      '[]',
      '"str"',
      '1',
      '{',
      '{"key":"Zm9v"',
      '{"key":"Zm9v",}',
      '{"key" "Zm9v"}',
      '{"key":"Zm9v" "x":1}',
      '{key:1}',
      '{"key":tru}',
      '{"key":"\\x"}',
      '{"key":"Zm9v","limit":01}',
      '{"key":"Zm9v","limit":-}',
      '{"key":"Zm9v","limit":1.}',
      '{"key":"Zm9v","limit":1e}',
      '[1,2',
      '{"key": 1}',
      '{"key": true}',
      '{"key": {}}',
      '{"key": []}',
      '{"key": [256]}',
      '{"key": null}',
      '{"key":"Zm9v","limit": 1.5}',
      '{"key":"Zm9v","limit": "1.5"}',
      '{"key":"Zm9v","limit": 1e3}',
      '{"key":"Zm9v","limit": true}',
      '{"key":"Zm9v","limit": "99999999999999999999"}',
      '{"key":"Zm9v","limit": 99999999999999999999}',
      '{"key":"Zm9v","limit": " 1"}',
      '{"key":"Zm9v","limit": "01"}',
      '{"key":"Zm9v","limit": ""}',
      '{"key":"Zm9v","limit": "-"}',
      '{"key":"Zm9v","limit": {}}',
      '{"key":"Zm9v","sort_order": 7}',
      '{"key":"Zm9v","sort_order": 1.5}',
      '{"key":"Zm9v","sort_order": true}',
      '{"key":"Zm9v","sort_order": "1"}',
      '{"key":"Zm9v","sort_order": "BOGUS"}',
      '{"key":"Zm9v","serializable": 1}',
      '{"key":"Zm9v","serializable": "true"}',
      '{"key":"Zm9"}',
      '{"key":"Zm9v="}',
      '{"key":"Zm-v"}',
      '{"key":"Zm_v"}',
      '{"key":"Zm9vYg"}',
      '{"key":"Zm9vYg="}',
      '{"key":"Zg"}',
      '{"key":"===="}',
      '{"key":"Zm 9v"}',
      '{"key":"Zm9vYmFy="}',
      '{"key":"Zm9v\\u0041"}',
      '{"key":"Zm9v","range_end":"*"}',
      '{"compare": "x"}',
      '{"compare": [1]}',
    ];
    for (const body of bodies) await same('/v3/kv/range', body);
    await same('/v3/kv/txn', '{"compare": "x"}');
    await same('/v3/kv/txn', '{"compare": [1]}');
    await same('/v3/kv/txn', '{"success": [{"request_put": "x"}]}');
    await same('/v3/kv/txn', '{"compare": [{"key": "YQ==", "target": "NOPE"}]}');
    await same('/v3/kv/put', '{"key": "YQ==", "value": "%%%"}');
    await same('/v3/lease/grant', '{"TTL": "abc"}');
    await same('/v3/lease/grant', '{"TTL": 600, "ID": -5}');
    // A body in gRPC framing sent over HTTP/1.1 is read as JSON, whatever its content type says.
    await same('/v3/kv/range', Buffer.from([0, 0, 0, 0, 5, 10, 3, 102, 111, 111]).toString('latin1'), {
      headers: { 'content-type': 'application/grpc' },
    });
    await same('/v3/kv/range', JSON.stringify({ key: b64('kv/a') }), {
      headers: { 'content-type': 'application/grpc' },
    });
  });

  test("Grpc-Timeout: the call's deadline, malformed values refused as etcd refuses them", async () => {
    await put('gt/a', '1');
    for (const value of ['x', '1', '10Q', 'abcS', '-1S']) {
      await same('/v3/kv/range', JSON.stringify({ key: b64('gt/a') }), {
        headers: { 'Grpc-Timeout': value },
      });
    }
    await same('/v3/kv/range', JSON.stringify({ key: b64('gt/a') }), { headers: { 'Grpc-Timeout': '5S' } });
    // A watch has no end of its own: the deadline ends it, on both, with the same error chunk after `created`.
    const lines = {} as Record<SideName, unknown[]>;
    for (const side of SIDES) {
      const text = await postText(
        baseUrl[side],
        '/v3/watch',
        { create_request: { key: b64('gt/a') } },
        {
          'Grpc-Timeout': '700m',
        },
      );
      lines[side] = text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => normalizeJson(JSON.parse(l), base[side], { watch_id: 'id' }));
    }
    // etcd's stream ends with UNKNOWN or DEADLINE_EXCEEDED, depending on which of the gateway's two goroutines
    // sees the expiry first; statecar gives the first. The message is the same either way.
    const codeless = (l: unknown[]) =>
      l.map((m) => {
        const e = (m as { error?: { message: string } }).error;
        return e ? { error: e.message } : m;
      });
    expect(codeless(lines.statecar)).toEqual(codeless(lines.etcd));
    expect(JSON.stringify(lines.statecar)).toMatch(
      /"created":true.*"grpc_code":2,.*"message":"context deadline exceeded"/,
    );
    expect(JSON.stringify(lines.etcd)).toMatch(/"grpc_code":(2|4),/);
  });

  test('too large, unknown routes and methods, the v3beta prefix, CORS preflight', async () => {
    const big = (n: number) =>
      JSON.stringify({ key: b64('big'), value: Buffer.alloc(n, 'x').toString('base64') });
    await same('/v3/kv/put', big(1_600_000));
    await same('/v3/kv/put', big(3_000_000));
    await same('/v3/kv/range', JSON.stringify({ key: b64('big'), count_only: true }));
    await same('/v3/kv/bogus', '{}');
    await same('/v3/nothing/here', '{}');
    await same('/v3/kv/range/', '{}');
    await same('/v3/kv/range', '', { method: 'GET' });
    await same('/v3/kv/range', '{}', { method: 'PUT' });
    await same('/nowhere', '{}');
    await same('/v3beta/kv/range', JSON.stringify({ key: b64('kv/a') }));
    await same('/v3beta/kv/put', JSON.stringify({ key: b64('kv/beta'), value: b64('1') }));
    await same('/v3beta/lease/leases', '{}', { replace: { leases: '<leases>' } });
    await same('/v3/kv/range', '', { method: 'OPTIONS' });
  });
});
