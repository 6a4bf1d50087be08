import { z } from 'zod';
import { EntityTable, type Entity } from '../platform/storage/tables';

/** The network archive's records: the provider account, and the custom user mapping. */

export type ConnectionState = 'notTested' | 'connected' | 'failed';

export interface AccountRow extends Entity {
  network: string;
  providerUrl: string;
  authKind: 'password' | 'apiKey';
  username?: string;
  /** The password or API key, sealed (platform/auth/secrets). */
  secret: string;
  autoMapping: boolean;
  enabled: boolean;
  termsAcceptedBy?: string;
  termsAcceptedAt?: string;
  connection: ConnectionState;
  connectionDetail?: string;
  testedAt?: string;
  updatedAt: string;
  updatedBy: string;
}

/** The mapping in use (`current` row) and its rows, one partition per uploaded version. */
export interface MappingMetaRow extends Entity {
  version?: string;
  rows?: number;
  uploadedAt?: string;
  uploadedBy?: string;
  fileName?: string;
}

export interface MappingRow extends Entity {
  /** The mobile number, international form without '+' (also the row key). */
  mailbox: string;
  userId: string;
}

/** Where the last scheduled or on-demand import ended: the next one starts there. */
export interface CheckpointRow extends Entity {
  completedTo?: string;
  runId?: string;
}

/** One copy of an item in one participant's mailbox, as an import left it. */
export interface CopyOutcome {
  /** The participant's mobile number (the source user). */
  mobile: string;
  mailbox: string | null;
  outcome: 'imported' | 'partial' | 'skipped' | 'failed';
  reason: string | null;
}

/** One source item of one run (partition `run|<runId>`): planned, then done with its copies. */
export interface ItemRow extends Entity {
  type?: string;
  at?: string;
  /** The item's attachment bytes, for the progress in bytes. */
  bytes?: number;
  status?: 'done';
  /** JSON: CopyOutcome[]. */
  copies?: string;
  /** The item could not be imported at all (after every retry). */
  error?: string;
  finishedAt?: string;
}

/** Partition `mark|<runId>`: a copy the run is making (`copy|<key>`), a participant it could not map (`unmapped|<mobile>`, logged once). */
export interface CopyMarkRow extends Entity {
  at: string;
}

export const tables = {
  account: new EntityTable<AccountRow>('archiveaccount'),
  checkpoint: new EntityTable<CheckpointRow>('archiveaccount'),
  items: new EntityTable<ItemRow>('archiveitems'),
  copies: new EntityTable<CopyMarkRow>('archiveitems'),
  mappingMeta: new EntityTable<MappingMetaRow>('archivemapping'),
  mapping: new EntityTable<MappingRow>('archivemapping'),
};

export const ACCOUNT_KEY = ['account', 'provider'] as const;
export const CHECKPOINT_KEY = ['checkpoint', 'provider'] as const;
export const MAPPING_META = ['meta', 'current'] as const;
export const mappingPartition = (version: string) => `v|${version}`;

/** What the archive provider says of one item (the provider contract, validated as it arrives). */
export const party = z.object({ name: z.string(), mobile: z.string(), email: z.string().nullable() });
export const sourceItem = z.object({
  id: z.string().min(1).max(200),
  type: z.enum(['SMS', 'MMS', 'VOICE']),
  network: z.string(),
  threadId: z.string(),
  timestampUtc: z.iso.datetime(),
  direction: z.enum(['in', 'out']),
  from: party,
  to: z.array(party),
  body: z.string().nullable(),
  durationSec: z.number().int().min(0).nullable(),
  attachments: z.array(
    z.object({
      id: z.string().min(1),
      fileName: z.string(),
      contentType: z.string(),
      size: z.number().int().min(0),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
    }),
  ),
});
export type SourceItem = z.infer<typeof sourceItem>;
