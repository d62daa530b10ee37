import { MAX_STORED_GRANTS, StoreError, type GrantStore, type StoredGrant } from './grant-store.js';

/** A grant store that forgets everything on exit: for tests and for doors nothing must outlive. */
export class MemoryGrantStore implements GrantStore {
  private readonly records = new Map<string, StoredGrant>();
  /** Records set aside, with their reason, for a test to read. */
  readonly setAsideRecords: Array<{ record: StoredGrant; reason: string }> = [];
  private closed = false;

  constructor(private readonly maxGrants: number = MAX_STORED_GRANTS) {}

  async put(record: StoredGrant): Promise<void> {
    this.assertOpen();
    if (!this.records.has(record.id) && this.records.size >= this.maxGrants) {
      throw new StoreError(`grant store full (${this.maxGrants} grants); refusing ${record.id}`);
    }
    this.records.set(record.id, structuredClone(record));
  }

  async remove(id: string): Promise<void> {
    this.assertOpen();
    this.records.delete(id);
  }

  async setAside(id: string, reason: string): Promise<void> {
    this.assertOpen();
    const record = this.records.get(id);
    if (!record) return;
    this.setAsideRecords.push({ record, reason });
    this.records.delete(id);
  }

  async list(): Promise<StoredGrant[]> {
    this.assertOpen();
    return [...this.records.values()].map((r) => structuredClone(r));
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError('grant store is closed');
  }
}
