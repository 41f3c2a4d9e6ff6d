/**
 * etcd's alarms (NOSPACE, CORRUPT): a set keyed by (alarm type, member ID), kept in the aux bucket `alarm` under
 * the encoded `AlarmMember` as etcd does, so they survive restarts and travel in snapshots. An active NOSPACE stops
 * puts (see space-quota.ts) until an operator disarms it (docs/etcd-maintenance.md).
 */
import type { AuxStore } from './aux-store';

export type AlarmType = 'NOSPACE' | 'CORRUPT';

/** The member ID under which the engine raises its own alarms; the etcd API shows it as its own member ID. */
export const LOCAL_MEMBER = 0n;

export interface Alarm {
  memberId: bigint;
  type: AlarmType;
}

/** The alarm capability. */
export interface AlarmStore {
  /** Active alarms, all or of one type. */
  list(type?: AlarmType): Alarm[];
  /** Whether an alarm of this type is active for any member. */
  active(type: AlarmType): boolean;
  /** Activate (durably); resolves with the entry (the existing one when it was already active). */
  activate(memberId: bigint, type: AlarmType): Promise<Alarm>;
  /** Deactivate (durably); resolves with the removed entry, or undefined when it was not active. */
  deactivate(memberId: bigint, type: AlarmType): Promise<Alarm | undefined>;
}

const BUCKET = 'alarm';
const TYPE_NUMBER: Record<AlarmType, number> = { NOSPACE: 1, CORRUPT: 2 };

/** etcd's bucket key of an alarm: the protobuf `AlarmMember{memberID = 1, alarm = 2}`. */
export function encodeAlarmKey(a: Alarm): Buffer {
  const bytes: number[] = [];
  if (a.memberId !== 0n) {
    bytes.push(0x08);
    let v = a.memberId;
    while (v >= 0x80n) {
      bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    bytes.push(Number(v));
  }
  bytes.push(0x10, TYPE_NUMBER[a.type]);
  return Buffer.from(bytes);
}

/** Parse a bucket key written by {@link encodeAlarmKey} (or by etcd); undefined when it is not an alarm. */
export function decodeAlarmKey(key: Buffer): Alarm | undefined {
  let memberId = 0n;
  let type: AlarmType | undefined;
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; i < key.length; shift += 7n) {
      const b = key[i++];
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
    }
    throw new Error('truncated varint');
  };
  try {
    while (i < key.length) {
      const tag = key[i++];
      if (tag === 0x08) memberId = varint();
      else if (tag === 0x10) {
        const n = Number(varint());
        type = n === 1 ? 'NOSPACE' : n === 2 ? 'CORRUPT' : undefined;
      } else return undefined;
    }
  } catch {
    return undefined;
  }
  return type && { memberId, type };
}

/** Alarms kept in an {@link AuxStore}, with an in-memory index for the per-write check. */
export class AuxAlarmStore implements AlarmStore {
  private readonly alarms = new Map<string, Alarm>();

  constructor(private readonly aux: AuxStore) {
    for (const e of aux.entries(BUCKET)) {
      const a = decodeAlarmKey(e.key);
      if (a) this.alarms.set(idOf(a), a);
    }
  }

  list(type?: AlarmType): Alarm[] {
    return [...this.alarms.values()].filter((a) => type === undefined || a.type === type);
  }

  active(type: AlarmType): boolean {
    for (const a of this.alarms.values()) if (a.type === type) return true;
    return false;
  }

  async activate(memberId: bigint, type: AlarmType): Promise<Alarm> {
    const a = { memberId, type };
    const existing = this.alarms.get(idOf(a));
    if (existing) return existing;
    this.alarms.set(idOf(a), a);
    await this.aux.write([{ bucket: BUCKET, key: encodeAlarmKey(a), value: Buffer.alloc(0) }]);
    return a;
  }

  async deactivate(memberId: bigint, type: AlarmType): Promise<Alarm | undefined> {
    const a = this.alarms.get(idOf({ memberId, type }));
    if (!a) return undefined;
    this.alarms.delete(idOf(a));
    await this.aux.write([{ bucket: BUCKET, key: encodeAlarmKey(a), value: null }]);
    return a;
  }
}

function idOf(a: Alarm): string {
  return `${a.type}/${a.memberId}`;
}
