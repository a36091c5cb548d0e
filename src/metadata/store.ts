import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { open, type Database, type RootDatabase } from "lmdb";

/**
 * The broker's LMDB environment: one file under the data dir holding committed offsets and producer
 * state, each in its own named database. Values are msgpack. (Cluster metadata lives in the Raft store.)
 */
export class MetadataStore {
  private constructor(readonly root: RootDatabase) {}

  static open(dataDir: string): MetadataStore {
    mkdirSync(dataDir, { recursive: true });
    const root = open({
      path: join(dataDir, "metadata.lmdb"),
      encoding: "msgpack",
      maxDbs: 16,
      // Commits are fsynced; lmdb batches concurrent writes into one transaction and one sync.
      noSync: false,
    });
    return new MetadataStore(root);
  }

  database<K extends string | number | (string | number)[], V>(name: string): Database<V, K> {
    return this.root.openDB<V, K>({ name, encoding: "msgpack" });
  }

  async close(): Promise<void> {
    await this.root.flushed;
    await this.root.close();
  }
}
