import { clock } from '../platform/clock';
import { config } from '../platform/config';
import { AppError } from '../platform/errors';
import { tables, type BudgetRow } from './model';

/**
 * The licence's request budget (TEAMVIEWER_REQUESTS, TeamViewer counts per account), shared by every
 * instance. An instance takes the budget in blocks from one row: a block is granted only while the
 * grants of the last window leave room for it, and its calls are spent within BLOCK_LIFE_MS of the
 * grant or not at all. A grant is counted until a window after that, so however the calls of a
 * block fall, no window of TeamViewer's holds more calls than the budget.
 */
const BLOCK_LIFE_MS = 60_000;
const KEY = ['budget', 'teamviewer'] as const;

interface Grant {
  at: number;
  n: number;
}

let block: { left: number; until: number } | undefined;
let granting: Promise<void> | undefined;

/** Spends one call of the budget; 503 with Retry-After when the window's budget is granted out. */
export async function spendCall(): Promise<void> {
  for (;;) {
    if (block && block.left > 0 && clock.now() < block.until) {
      block.left--;
      return;
    }
    granting ??= grant().finally(() => (granting = undefined));
    await granting;
  }
}

async function grant(): Promise<void> {
  const { amount, windowMs } = config().TEAMVIEWER_REQUESTS;
  // Blocks small enough that an instance strands little, large enough that the row is written rarely.
  const size = Math.max(1, Math.min(50, Math.floor(amount / 200)));
  let given = 0;
  let retryAt = 0;
  await tables.budget.modify(...KEY, (r) => {
    const now = clock.now();
    const live = (r?.grants ? (JSON.parse(r.grants) as Grant[]) : []).filter((g) => now - g.at < windowMs + BLOCK_LIFE_MS);
    const used = live.reduce((n, g) => n + g.n, 0);
    given = Math.min(size, amount - used);
    if (given <= 0) {
      retryAt = (live[0]?.at ?? now) + windowMs + BLOCK_LIFE_MS;
      return undefined;
    }
    const row: BudgetRow = { partitionKey: KEY[0], rowKey: KEY[1], grants: JSON.stringify([...live, { at: now, n: given }]) };
    return row;
  });
  if (given <= 0) {
    const wait = Math.max(1, Math.ceil((retryAt - clock.now()) / 1000));
    throw new AppError(
      503,
      'Service Unavailable',
      `The TeamViewer licence's request budget (TEAMVIEWER_REQUESTS: ${amount} per ${windowMs / 1000} s) is spent; try again in ${wait} s.`,
      {},
      { 'Retry-After': String(wait) },
    );
  }
  block = { left: given, until: clock.now() + BLOCK_LIFE_MS };
}
