/**
 * Every table, queue and blob container the app uses. Storage code only accepts these names, and
 * the infrastructure creates exactly these (a test compares them with infra/main.bicep).
 */
export const TABLES = [
  'connectors',
  'graphcreates',
  'oauthstates',
  'sessions',
  'temproviders',
  'temlines',
  'temblocks',
  'temledger',
  'temalerts',
  'temwebhooks',
  'temsetup',
  'vpptokens',
  'vpplicenses',
  'vpphistory',
  'vppalerts',
  'cmpscans',
  'cmptemplates',
  'cmpbranding',
  'cmpschedules',
  'cmpdevices',
  'cmpdue',
] as const;
export const QUEUES = ['tem-events', 'tem-jobs', 'vpp-sync', 'cmp-jobs', 'cmp-actions'] as const;
export const CONTAINERS = ['cmp-branding'] as const;

export type TableName = (typeof TABLES)[number];
/** A queue, or its poison queue (where the host moves messages that keep failing). */
export type QueueName = (typeof QUEUES)[number] | `${(typeof QUEUES)[number]}-poison`;
export type ContainerName = (typeof CONTAINERS)[number];
