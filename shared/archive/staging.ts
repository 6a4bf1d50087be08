import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { BlobStore } from '../platform/storage/blobs';
import type { SourceItem } from './model';
import { SourceError, type ArchiveSource } from './source';

/**
 * Staging: each source item and its attachments copied to Blob storage under names that derive from
 * the item, so a retried or repeated stage finds what an earlier one wrote instead of copying it
 * again. Attachments stream from the provider to the blob with their SHA-256 checked on the way
 * (never a whole file in memory); one whose bytes do not match is deleted, and the stage fails.
 */

export const staging = new BlobStore('archive-staging');
const seg = (s: string) => encodeURIComponent(s);
export const itemBlob = (itemId: string) => `items/${seg(itemId)}/item.json`;
export const attachmentBlob = (itemId: string, attachmentId: string) => `items/${seg(itemId)}/attachments/${seg(attachmentId)}`;

export interface Staged {
  /** Attachment bytes copied from the provider by this stage. */
  copiedBytes: number;
  /** Attachments an earlier stage had already copied. */
  reused: number;
}

/** Stages `item`; `source` is opened only for an attachment not staged yet, and once. */
export async function stageItem(source: () => Promise<ArchiveSource>, item: SourceItem): Promise<Staged> {
  const out: Staged = { copiedBytes: 0, reused: 0 };
  let opened: Promise<ArchiveSource> | undefined;
  for (const a of item.attachments) {
    const name = attachmentBlob(item.id, a.id);
    const there = await staging.properties(name);
    if (there?.size === a.size && there.metadata.sha256 === a.sha256) {
      out.reused++;
      continue;
    }
    if (there) await staging.delete(name); // not what the provider describes: copy it again
    const hash = createHash('sha256');
    let bytes = 0;
    const counting = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    const body = await (await (opened ??= source())).openAttachment(item.id, a.id);
    body.on('error', (e) => counting.destroy(e));
    await staging.putOnce(name, body.pipe(counting), a.contentType, { sha256: a.sha256 });
    const digest = hash.digest('hex');
    if (bytes !== a.size || digest !== a.sha256) {
      await staging.delete(name);
      throw new SourceError(
        200,
        `attachment ${a.id} of item ${item.id} arrived with ${bytes} bytes and SHA-256 ${digest}; the provider describes ${a.size} bytes and ${a.sha256}.`,
      );
    }
    out.copiedBytes += bytes;
  }
  // The item last: a staged item.json means every attachment is staged and checked.
  await staging.putOnce(itemBlob(item.id), Buffer.from(JSON.stringify(item)), 'application/json');
  return out;
}

/** A staged item, or undefined when it was not (completely) staged. */
export async function stagedItem(itemId: string): Promise<SourceItem | undefined> {
  const body = await staging.get(itemBlob(itemId));
  return body ? (JSON.parse(body.toString('utf8')) as SourceItem) : undefined;
}

/** A staged attachment's bytes, streamed. */
export const openStaged = (itemId: string, attachmentId: string) => staging.open(attachmentBlob(itemId, attachmentId));
