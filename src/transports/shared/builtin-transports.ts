/**
 * Every transport ferry knows, one per line. Adding a transport is adding its line here:
 * the module must export a {@link Transport} object and must stay cheap to load
 * (no undici, tar, … at module load: open sources and destinations with dynamic imports).
 */
export { dockerTransport } from '../docker/transport.js';
export { ociTransport } from '../oci-layout/transport.js';
export { dirTransport } from '../dir/transport.js';
export { dockerArchiveTransport } from '../docker-archive/transport.js';
export { ociArchiveTransport } from '../oci-archive/transport.js';
export { containersStorageTransport } from '../containers-storage/transport.js';
export { tarballTransport } from '../tarball/transport.js';
export { dockerDaemonTransport } from '../docker-daemon/transport.js';
export { sifTransport } from '../sif/transport.js';
