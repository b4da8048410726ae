/** `containers-storage:` references: an image in a local containers/storage store. */
import { FerryError, ErrorCode, notFound } from '../../errors.js';
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { ImageDestination, ImageSource } from '../../types/image.js';
import type { ImageReference, Transport } from '../../types/reference.js';
import { defaultStoreOverrides, resolveStoreOptions, type StoreOptions } from '../../config/storage-conf.js';
import type { ImageRecord } from '../../store/records.js';
import { containersStorageTransport } from './transport.js';

/** The `[driver@graphroot+runroot:options]` part. */
export interface StoreSpec {
  driver?: string;
  graphRoot?: string;
  runRoot?: string;
  options?: string[];
}

/** An image in a store: by name, by ID, or both. Immutable. */
export class StorageReference implements ImageReference {
  /**
   * @param name full docker reference (`docker.io/library/busybox:latest`), if any
   * @param id full image ID, if any
   * @param idPrefix a short hex string that may be an image ID prefix (resolved when opened)
   */
  constructor(
    readonly spec: StoreSpec,
    readonly name: string | undefined,
    readonly id: string | undefined,
    readonly idPrefix?: string,
  ) {}

  get transport(): Transport {
    return containersStorageTransport;
  }

  /** The store options this reference means (its own spec, then CLI overrides, then storage.conf). */
  storeOptions(): StoreOptions {
    const d = defaultStoreOverrides();
    return resolveStoreOptions({
      ...d,
      ...(this.spec.graphRoot ? { graphRoot: this.spec.graphRoot } : {}),
      ...(this.spec.runRoot ? { runRoot: this.spec.runRoot } : {}),
      ...(this.spec.driver ? { driver: this.spec.driver } : {}),
    });
  }

  stringWithinTransport(): string {
    const s = this.spec;
    let store = '';
    if (s.graphRoot || s.driver || s.runRoot) {
      store = `[${s.driver ? `${s.driver}@` : ''}${s.graphRoot ?? ''}${s.runRoot ? `+${s.runRoot}` : ''}${s.options?.length ? `:${s.options.join(',')}` : ''}]`;
    }
    if (this.name && this.id) return `${store}${this.name}@${this.id}`;
    return store + (this.name ?? this.id ?? this.idPrefix ?? '');
  }

  toString(): string {
    return `${containersStorageTransport.name}:${this.stringWithinTransport()}`;
  }

  dockerReference(): string | undefined {
    return this.name;
  }

  /** `[driver@graphroot]` of the store this reference means. */
  private storeScope(): { withDriver: string; driverless: string } {
    const o = this.storeOptions();
    return { withDriver: `[${o.driver}@${o.graphRoot}]`, driverless: `[${o.graphRoot}]` };
  }

  /** As containers/image: `[driver@graphroot]`, then the name if any, then `@ID` if any. */
  policyIdentity(): string {
    const id = this.id ?? this.idPrefix;
    return `${this.storeScope().withDriver}${this.name ?? ''}${id !== undefined ? `${this.name !== undefined ? '@' : ''}${id}` : ''}`;
  }

  /**
   * As containers/image: with a name, `[store]name` when there is also an ID, `[store]repo:tag` for a name with
   * both tag and digest, then `[store]repo` and each of its parent namespaces; then `[driver@graphroot]` and
   * `[graphroot]`.
   */
  policyNamespaces(): string[] {
    const { withDriver, driverless } = this.storeScope();
    const out: string[] = [];
    if (this.name !== undefined) {
      if (this.id !== undefined) out.push(withDriver + this.name);
      const at = this.name.indexOf('@');
      const beforeDigest = at === -1 ? this.name : this.name.slice(0, at);
      const colon = beforeDigest.lastIndexOf(':');
      const hasTag = colon > beforeDigest.lastIndexOf('/');
      const repo = hasTag ? beforeDigest.slice(0, colon) : beforeDigest;
      if (at !== -1 && hasTag) out.push(withDriver + beforeDigest);
      const parts = repo.split('/');
      for (let n = parts.length; n > 0; n--) out.push(withDriver + parts.slice(0, n).join('/'));
    }
    out.push(withDriver, driverless);
    return out;
  }

  /**
   * Finds the image this reference names in `images`.
   * @throws FerryError(E_NOT_FOUND) in containers/storage's words, which scripts match:
   *         `reference "[overlay@/var/lib/containers/storage+/run/containers/storage]docker.io/library/x:latest" does not
   *         resolve to an image ID: identifier is not an image`.
   */
  resolve(images: ImageRecord[]): ImageRecord {
    let img: ImageRecord | undefined;
    if (this.id) img = images.find((i) => i.id === this.id);
    else if (this.idPrefix) {
      const m = images.filter((i) => i.id.startsWith(this.idPrefix!));
      if (m.length > 1) throw new FerryError(ErrorCode.InvalidReference, `image ID prefix "${this.idPrefix}" is ambiguous`);
      img = m[0] ?? images.find((i) => i.names?.includes(this.idPrefix!) || i.names?.includes(`docker.io/library/${this.idPrefix}:latest`));
    } else if (this.name) img = images.find((i) => i.names?.includes(this.name!)) ?? findByDigest(images, this.name);
    if (!img || (this.id && this.name && !img.names?.includes(this.name) && img.id !== this.id)) {
      const o = this.storeOptions();
      const what = `[${o.driver}@${o.graphRoot}+${o.runRoot}]${this.name ?? this.id ?? this.idPrefix ?? ''}`;
      throw notFound(`reference ${JSON.stringify(what)} does not resolve to an image ID: identifier is not an image`);
    }
    return img;
  }

  async newImageSource(_ctx: SystemContext, opts?: OpOptions): Promise<ImageSource> {
    const { openStorageSource } = await import('./source.js');
    return openStorageSource(this, opts);
  }

  async newImageDestination(_ctx: SystemContext, opts?: OpOptions): Promise<ImageDestination> {
    const { openStorageDestination } = await import('./destination.js');
    return openStorageDestination(this, opts);
  }

  async deleteImage(_ctx: SystemContext, opts?: OpOptions): Promise<void> {
    const { Store } = await import('../../store/store.js');
    const { removeImage } = await import('../../store/housekeeping.js');
    const store = new Store(this.storeOptions());
    const img = this.resolve(await store.images(opts));
    await removeImage(store, img.id, { force: false, signal: opts?.signal });
  }
}

/**
 * For `repo@sha256:…` names, as containers/image does: the image carrying a name of that repository whose manifest
 * has that digest (its `digest`, one of its `digests`, or a stored `manifest-<digest>` big-data item).
 */
function findByDigest(images: ImageRecord[], name: string): ImageRecord | undefined {
  const at = name.lastIndexOf('@');
  if (at < 0) return undefined;
  const repo = name.slice(0, at);
  const digest = name.slice(at + 1);
  const repoOf = (n: string) => n.replace(/@.*$/, '').replace(/:[^:/]*$/, '');
  return images.find((i) => {
    const digests = [i.digest, ...((i['digests'] as string[] | undefined) ?? [])];
    const hasDigest = digests.includes(digest) || (i['big-data-names'] ?? []).includes(`manifest-${digest}`);
    return hasDigest && (i.names ?? []).some((n) => repoOf(n) === repo);
  });
}
