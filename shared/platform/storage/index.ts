export * from './connection';
export * from './tables';
export * from './queues';
export * from './blobs';
export * from './resources';
