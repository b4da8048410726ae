/**
 * Options that shape how one side (source or destination) of an operation talks to the outside world.
 * Plain data: built by the CLI from flags (`cli/options/`), passed down unchanged.
 */
export interface SystemContext {
  /** Explicit auth file (`--authfile`, `REGISTRY_AUTH_FILE`); otherwise the containers search order applies. */
  authFile?: string;
  /** Credentials given on the command line (`--creds`, `--username/--password`). Never logged. */
  credentials?: { username: string; password: string };
  /** Bearer token given on the command line (`--registry-token`). Never logged. */
  registryToken?: string;
  /** `--no-creds`: access the registry anonymously, ignore auth files. */
  noCreds?: boolean;
  /** `--tls-verify`: undefined = default (verify, unless registries.conf marks the registry insecure). false allows HTTP and unverified TLS. */
  tlsVerify?: boolean;
  /** `--cert-dir`: directory with `*.crt` CAs and `*.cert`/`*.key` client pairs; replaces the certs.d lookup. */
  certDir?: string;
  /** Path to registries.conf (defaults: `CONTAINERS_REGISTRIES_CONF`, `~/.config/containers/registries.conf`, `/etc/containers/registries.conf`). */
  registriesConf?: string;
  /**
   * `--registries.d DIR`: where signature storage is configured (lookaside, sigstore attachments); default
   * `~/.config/containers/registries.d` if it exists, else `/etc/containers/registries.d`.
   */
  registriesDirPath?: string;
  /** Platform choice for multi-platform images; defaults to the running system. */
  platform?: { os?: string; architecture?: string; variant?: string };
  /** `--retry-times` (default 3) and `--retry-delay` in milliseconds (default: exponential backoff from 1 s). */
  retryTimes?: number;
  retryDelayMs?: number;
  /**
   * `--max-requests-per-second HOST=N`: at most N requests a second to each such `host[:port]` (`docker.io` names
   * `registry-1.docker.io`); see `src/registry/rate-limit.ts`.
   */
  maxRequestsPerSecond?: Record<string, number>;
  /**
   * Directory for temporary files such as unpacked or decompressed archives (`--tmpdir`, else `$TMPDIR`); default
   * the OS temp directory. Files beside a destination (its staging) stay beside it.
   */
  tmpDir?: string;
  /**
   * The Docker engine of `docker-daemon:` images (`--daemon-host`, `--src-daemon-host`, `--dest-daemon-host`, else
   * `DOCKER_HOST`): `unix:///PATH` or `tcp://HOST:PORT`; default `unix:///var/run/docker.sock`.
   */
  dockerDaemonHost?: string;
  /**
   * `--src-shared-blob-dir` / `--dest-shared-blob-dir`: for `oci:` layouts, the directory holding blobs (manifests,
   * configs, layers) as `<algorithm>/<hex>`, shared between layouts, instead of each layout's `blobs/`
   * (containers/image `OCISharedBlobDirPath`).
   */
  ociSharedBlobDir?: string;
  /**
   * `--since`: earlier archives (whole, split — their first part's base name — or their `ARCHIVE.index.json`). An
   * archive destination leaves out every blob they carried (an incremental archive); an archive source reads the
   * blobs it leaves out from them. Honoured by the transports whose {@link Transport.archiveOptions} say so.
   */
  archiveSince?: string[];
  /** `--split-size`: an archive destination is written as parts `ARCHIVE.001`, … of this many bytes and a checksum list. */
  archiveSplitSize?: number;
  /** Home directory override (tests); default `os.homedir()`. */
  homeDir?: string;
  /** User agent; default `ferry/<version>`. */
  userAgent?: string;
}

/** Every async operation accepts an AbortSignal; Ctrl-C aborts cleanly. */
export interface OpOptions {
  signal?: AbortSignal;
}

/**
 * What `ImageReference.newImageDestination` is given: the destination side's {@link SystemContext} and the settings
 * of a copy that only some destinations read (containers/image keeps them in its SystemContext). Plain data, built by
 * the copy engine from `CopyOptions`.
 */
export interface DestinationContext extends SystemContext {
  /** `--dest-oci-accept-uncompressed-layers`: the `oci:` destination keeps uncompressed layers as they are. */
  ociAcceptUncompressedLayers?: boolean;
  /** `--additional-tag`: more names for the image in `docker-archive:` and `docker-daemon:` destinations. */
  additionalTags?: string[];
}
