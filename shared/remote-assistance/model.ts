import { EntityTable, type Entity } from '../platform/storage/tables';
import type { Claimable } from '../platform/storage/claims';

/** The TeamViewer connection (one row), the licence budget's grants (one row) and the sessions requested through it (the audit). */

export type ConnectionState = 'disconnected' | 'connected' | 'needsReauthorization';

export interface ConnectionRow extends Claimable {
  state: ConnectionState;
  detail?: string;
  termsAcceptedBy?: string;
  termsAcceptedAt?: string;
  /** The token pair, sealed (platform/auth/secrets); the access token's expiry (epoch ms). */
  accessToken?: string;
  refreshToken?: string;
  accessExpiresAt?: number;
  connectedBy?: string;
  connectedAt?: string;
  /** The TeamViewer account the tokens act as. */
  accountName?: string;
  accountEmail?: string;
  companyName?: string;
  lastSuccessAt?: string;
  /** Why the connection last needed the admin (JSON list, newest first). */
  alerts?: string;
}

export const CONNECTION_KEY = ['connection', 'teamviewer'] as const;

/** `requesting` until TeamViewer answered: a crash then leaves it for the report sync to settle. */
export type SessionOutcome = 'requesting' | 'open' | 'closed' | 'refused' | 'failed';

/** One request for a session (partition `session`, row key newest first): who, which device, when, what came of it. */
export interface SessionRow extends Entity {
  requestedBy: string;
  requestedByName?: string;
  requestedAt: string;
  deviceId: string;
  deviceName?: string;
  platform?: string;
  userId?: string;
  userName?: string;
  outcome: SessionOutcome;
  reason?: string;
  code?: string;
  supporterLink?: string;
  validUntil?: string;
  invitation?: 'sent' | 'failed' | 'notConfigured';
  closedAt?: string;
  closedBy?: string;
  /** TeamViewer's connections to the session (JSON list), from the report sync. */
  connections?: string;
}

/** The licence's request budget granted to instances (budget.ts): the grants of the last window, JSON. */
export interface BudgetRow extends Entity {
  grants: string;
}

export const tables = {
  connection: new EntityTable<ConnectionRow>('raconnection'),
  /** In the connection's table, under its own partition. */
  budget: new EntityTable<BudgetRow>('raconnection'),
  sessions: new EntityTable<SessionRow>('rasessions'),
};
