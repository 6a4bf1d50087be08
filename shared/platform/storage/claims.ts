import { clock } from '../clock';
import { AppError, ConcurrencyError } from '../errors';
import type { Entity, EntityTable, Stored } from './tables';

/**
 * Claims: who is doing the work a table row stands for, and until when. The one protocol behind
 * every "one worker at a time" in the app (TEM events, Graph creates, the compliance scan lease and
 * its runner). A claim is taken with a conditional write (an insert, or an update under the row's
 * ETag), so of any number of workers racing for a row exactly one wins; it lapses at `claimedUntil`
 * by the clock module, so a crashed holder's work is taken over; its holder may take it again (a
 * message delivered again); and a release ends it early.
 */
export interface Claimable extends Entity {
  claimedBy?: string;
  /** Epoch ms the claim protects its holder until; 0 or absent: free. */
  claimedUntil?: number;
}

/** For claims that only their holder, a hand-over or a release ends. */
export const UNTIL_RELEASED = Number.MAX_SAFE_INTEGER;

export interface ClaimOptions<T extends Claimable> {
  holder: string;
  /** How long the claim protects its holder; UNTIL_RELEASED for no time limit. */
  forMs: number;
  /** The row to create (claimed) when there is none; without it a missing row is 'missing'. */
  create?: () => Omit<T, 'partitionKey' | 'rowKey' | 'claimedBy' | 'claimedUntil'>;
  /** The work the row stands for is finished: there is nothing to claim. */
  done?: (row: T) => boolean;
  /** What else changes when an existing row is claimed (a status, an attempt counter). */
  take?: (row: T) => T;
  /** A change to write to a row someone else holds (e.g. asking for another run afterwards). */
  whileHeld?: (row: T) => T;
}

export type ClaimResult<T> =
  | {
      status: 'claimed';
      row: T;
      etag: string;
      /** The row was created by this claim (no earlier attempt at the work). */
      fresh: boolean;
    }
  | { status: 'done' | 'held'; row: T }
  | { status: 'missing' };

const lost = (e: unknown) => e instanceof ConcurrencyError || (e instanceof AppError && e.status === 409);

/** Whether someone other than `holder` holds the row's claim now. */
export function heldByOther(row: Claimable, holder: string, now = clock.now()): boolean {
  return !!row.claimedBy && row.claimedBy !== holder && (row.claimedUntil ?? 0) > now;
}

/**
 * Claims the row (pk, rk) for `holder`. `read` is the row as the caller just read it, to save a
 * read; when another writer got in between, the row is read again and the rules applied again.
 */
export async function claim<T extends Claimable>(
  table: EntityTable<T>,
  pk: string,
  rk: string,
  o: ClaimOptions<T>,
  read?: Stored<T>,
): Promise<ClaimResult<T>> {
  for (let attempt = 1; ; attempt++) {
    const got = read ?? (await table.get(pk, rk));
    read = undefined;
    const now = clock.now();
    const mine = { claimedBy: o.holder, claimedUntil: o.forMs >= UNTIL_RELEASED ? UNTIL_RELEASED : now + o.forMs };
    try {
      if (!got) {
        if (!o.create) return { status: 'missing' };
        const row = { ...o.create(), partitionKey: pk, rowKey: rk, ...mine } as T;
        return { status: 'claimed', row, etag: await table.insert(row), fresh: true };
      }
      if (o.done?.(got.entity)) return { status: 'done', row: got.entity };
      if (heldByOther(got.entity, o.holder, now)) {
        if (o.whileHeld) await table.update(o.whileHeld(got.entity), got.etag);
        return { status: 'held', row: got.entity };
      }
      const row = { ...(o.take ? o.take(got.entity) : got.entity), ...mine };
      return { status: 'claimed', row, etag: await table.update(row, got.etag), fresh: false };
    } catch (e) {
      if (!lost(e) || attempt >= 10) throw e;
    }
  }
}

/**
 * Ends `holder`'s claim on (pk, rk): `change` gives the row to write (by default the same row, free
 * again) or null to delete it. Nothing happens when someone else holds the row by now. Returns the
 * row as it was when released, or undefined.
 */
export async function release<T extends Claimable>(
  table: EntityTable<T>,
  pk: string,
  rk: string,
  holder: string,
  change: (row: T) => T | null = (row) => ({ ...row, claimedBy: undefined, claimedUntil: 0 }),
): Promise<T | undefined> {
  for (let attempt = 1; ; attempt++) {
    const got = await table.get(pk, rk);
    if (!got || got.entity.claimedBy !== holder) return undefined;
    try {
      const next = change(got.entity);
      if (next) await table.update(next, got.etag);
      else await table.delete(pk, rk, got.etag);
      return got.entity;
    } catch (e) {
      if (!lost(e) || attempt >= 10) throw e;
    }
  }
}
