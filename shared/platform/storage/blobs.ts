import { RestError } from '@azure/storage-blob';
import { storage, type StorageAccount } from './connection';
import type { ContainerName } from './resources';

/**
 * Blob staging. Writes are create-only (If-None-Match: *) so a retried stage never overwrites
 * what an earlier attempt wrote; large bodies stream in blocks, without a size ceiling of ours.
 */
export class BlobStore {
  private ready?: Promise<unknown>;

  constructor(
    readonly container: ContainerName,
    private readonly account: () => StorageAccount = storage,
  ) {}

  private client() {
    return this.account().container(this.container);
  }

  ensure(): Promise<unknown> {
    return (this.ready ??= this.client()
      .createIfNotExists()
      .catch((e) => {
        this.ready = undefined;
        throw e;
      }));
  }

  /**
   * Writes a blob once; returns false when it already existed (an earlier attempt wrote it). A
   * stream is sent in 4 MiB blocks, at most 2 in flight, and the blob exists only once all are
   * committed, so a crash midway leaves nothing.
   */
  async putOnce(
    name: string,
    body: Buffer | NodeJS.ReadableStream,
    contentType = 'application/octet-stream',
    metadata?: Record<string, string>,
  ): Promise<boolean> {
    await this.ensure();
    const blob = this.client().getBlockBlobClient(name);
    const options = { blobHTTPHeaders: { blobContentType: contentType }, conditions: { ifNoneMatch: '*' }, metadata };
    try {
      if (Buffer.isBuffer(body)) await blob.uploadData(body, options);
      else await blob.uploadStream(body as NodeJS.ReadableStream & import('stream').Readable, 1024 * 1024, 2, options);
      return true;
    } catch (e) {
      if (e instanceof RestError && (e.statusCode === 409 || e.statusCode === 412)) return false;
      throw e;
    }
  }

  async get(name: string): Promise<Buffer | undefined> {
    await this.ensure();
    try {
      return await this.client().getBlockBlobClient(name).downloadToBuffer();
    } catch (e) {
      if (e instanceof RestError && e.statusCode === 404) return undefined;
      throw e;
    }
  }

  /** Size and metadata of a blob, or undefined when there is none. */
  async properties(name: string): Promise<{ size: number; metadata: Record<string, string> } | undefined> {
    await this.ensure();
    try {
      const p = await this.client().getBlockBlobClient(name).getProperties();
      return { size: p.contentLength ?? 0, metadata: p.metadata ?? {} };
    } catch (e) {
      if (e instanceof RestError && e.statusCode === 404) return undefined;
      throw e;
    }
  }

  /** A blob's bytes as a stream, read as they are consumed. */
  async open(name: string): Promise<NodeJS.ReadableStream> {
    await this.ensure();
    const res = await this.client().getBlockBlobClient(name).download();
    return res.readableStreamBody!;
  }

  /** Deletes the blobs last written before `before` (the purge of expired staging); returns how many. */
  async deleteOlderThan(before: Date): Promise<number> {
    await this.ensure();
    let deleted = 0;
    for await (const b of this.client().listBlobsFlat())
      if (b.properties.lastModified && b.properties.lastModified < before) {
        await this.client().getBlockBlobClient(b.name).deleteIfExists();
        deleted++;
      }
    return deleted;
  }

  async delete(name: string): Promise<void> {
    await this.ensure();
    await this.client().getBlockBlobClient(name).deleteIfExists();
  }
}
