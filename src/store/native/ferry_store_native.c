/*
 * ferry-store-native: the few system calls Node lacks that a containers/storage-compatible store needs.
 *  - fcntl(2) whole-file record locks (F_SETLK; the caller polls, so the event loop never blocks),
 *    the same locks containers/storage's pkg/lockfile takes;
 *  - mknod(2) for device nodes, FIFOs and overlay whiteouts (0/0 character devices);
 *  - lsetxattr(2), lgetxattr(2), llistxattr(2) for file capabilities, opaque directories and other xattrs;
 *  - CRC-64/ISO (slicing-by-8), the checksum tar-split records for every file (hot path of layer writes);
 *  - createFiles: a batch of small regular files (open O_EXCL|O_NOFOLLOW, write, fchown, fchmod, futimens, close)
 *    created on libuv's thread pool, so that file creation in the kernel overlaps with decompression, tar parsing
 *    and the other layers on the main thread, and several batches run at once;
 *  - syncFs: syncfs(2) on the thread pool, which flushes a whole file system's written data and metadata at once,
 *    so that a commit's layer content is on disk before the record that declares it complete (Node has no syncfs).
 * Every other function is synchronous and throws an Error with `code` (errno name) and `errno` on failure.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define PATH_MAX_LEN 4096

static const char *errno_name(int err) {
  const char *name = "EIO";
  switch (err) {
    case EAGAIN: name = "EAGAIN"; break;
    case EACCES: name = "EACCES"; break;
    case EPERM: name = "EPERM"; break;
    case ENOENT: name = "ENOENT"; break;
    case EEXIST: name = "EEXIST"; break;
    case ENODATA: name = "ENODATA"; break;
    case ENOTSUP: name = "ENOTSUP"; break;
    case EINVAL: name = "EINVAL"; break;
    case EBADF: name = "EBADF"; break;
    case EDEADLK: name = "EDEADLK"; break;
    case ENOSPC: name = "ENOSPC"; break;
    case ERANGE: name = "ERANGE"; break;
    case ENOTDIR: name = "ENOTDIR"; break;
    case EINTR: name = "EINTR"; break;
    case EIO: name = "EIO"; break;
    case EISDIR: name = "EISDIR"; break;
    case ELOOP: name = "ELOOP"; break;
    case ENAMETOOLONG: name = "ENAMETOOLONG"; break;
    case EROFS: name = "EROFS"; break;
    case EDQUOT: name = "EDQUOT"; break;
    case EMLINK: name = "EMLINK"; break;
    case EFBIG: name = "EFBIG"; break;
    case ENOMEM: name = "ENOMEM"; break;
    case EMFILE: name = "EMFILE"; break;
    case ENFILE: name = "ENFILE"; break;
    default: break;
  }
  return name;
}

static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(err));
  napi_value code, message, error, errnum;
  const char *name = errno_name(err);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, -err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  napi_set_named_property(env, error, "code", code);
  napi_throw(env, error);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, "wrong number of arguments");
    return 0;
  }
  return 1;
}

static int get_path(napi_env env, napi_value v, char *buf) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, PATH_MAX_LEN, &len) != napi_ok || len >= PATH_MAX_LEN - 1) {
    napi_throw_type_error(env, NULL, "expected a path string");
    return 0;
  }
  return 1;
}

/* setLock(fd, kind): kind 0 = unlock, 1 = read (shared), 2 = write (exclusive). Non-blocking.
 * Returns true when taken, false when another process holds a conflicting lock. */
static napi_value set_lock(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  int32_t fd, kind;
  napi_get_value_int32(env, argv[0], &fd);
  napi_get_value_int32(env, argv[1], &kind);
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = kind == 0 ? F_UNLCK : kind == 1 ? F_RDLCK : F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;
  int r;
  do { r = fcntl(fd, F_SETLK, &fl); } while (r == -1 && errno == EINTR);
  napi_value result;
  if (r == -1) {
    if (errno == EAGAIN || errno == EACCES) {
      napi_get_boolean(env, false, &result);
      return result;
    }
    return throw_errno(env, errno, "fcntl");
  }
  napi_get_boolean(env, true, &result);
  return result;
}

/* mknod(path, mode, major, minor): mode includes the file type bits (S_IFCHR, S_IFBLK, S_IFIFO). */
static napi_value do_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  char path[PATH_MAX_LEN];
  if (!get_path(env, argv[0], path)) return NULL;
  uint32_t mode, maj, min;
  napi_get_value_uint32(env, argv[1], &mode);
  napi_get_value_uint32(env, argv[2], &maj);
  napi_get_value_uint32(env, argv[3], &min);
  if (mknod(path, (mode_t)mode, makedev(maj, min)) == -1) return throw_errno(env, errno, "mknod");
  return NULL;
}

/* Reads an xattr name argument into `name`; 0 (with a TypeError thrown) if it is not a string. */
static int get_xattr_name(napi_env env, napi_value v, char *name, size_t cap) {
  size_t nlen;
  if (napi_get_value_string_utf8(env, v, name, cap, &nlen) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected an xattr name");
    return 0;
  }
  return 1;
}

/* lsetxattr(path, name, value: Buffer) */
static napi_value do_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  char path[PATH_MAX_LEN], name[256];
  if (!get_path(env, argv[0], path)) return NULL;
  if (!get_xattr_name(env, argv[1], name, sizeof name)) return NULL;
  void *data = NULL;
  size_t len = 0;
  if (napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a Buffer value");
    return NULL;
  }
  if (lsetxattr(path, name, len ? data : "", len, 0) == -1) return throw_errno(env, errno, "lsetxattr");
  return NULL;
}

/* lgetxattr(path, name) → Buffer, or null when the attribute does not exist. */
static napi_value do_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  char path[PATH_MAX_LEN], name[256];
  if (!get_path(env, argv[0], path)) return NULL;
  if (!get_xattr_name(env, argv[1], name, sizeof name)) return NULL;
  for (;;) {
    ssize_t size = lgetxattr(path, name, NULL, 0);
    if (size == -1) {
      napi_value nul;
      if (errno == ENODATA || errno == ENOTSUP) { napi_get_null(env, &nul); return nul; }
      return throw_errno(env, errno, "lgetxattr");
    }
    void *buf = malloc(size ? (size_t)size : 1);
    ssize_t got = lgetxattr(path, name, buf, (size_t)size);
    if (got == -1) {
      int e = errno;
      free(buf);
      if (e == ERANGE) continue;
      napi_value nul;
      if (e == ENODATA) { napi_get_null(env, &nul); return nul; }
      return throw_errno(env, e, "lgetxattr");
    }
    napi_value out;
    void *dst;
    napi_create_buffer_copy(env, (size_t)got, buf, &dst, &out);
    free(buf);
    return out;
  }
}

/* llistxattr(path) → string[] */
static napi_value do_llistxattr(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  char path[PATH_MAX_LEN];
  if (!get_path(env, argv[0], path)) return NULL;
  for (;;) {
    ssize_t size = llistxattr(path, NULL, 0);
    napi_value arr;
    napi_create_array(env, &arr);
    if (size == -1) {
      if (errno == ENOTSUP) return arr;
      return throw_errno(env, errno, "llistxattr");
    }
    if (size == 0) return arr;
    char *buf = malloc((size_t)size);
    ssize_t got = llistxattr(path, buf, (size_t)size);
    if (got == -1) {
      int e = errno;
      free(buf);
      if (e == ERANGE) continue;
      return throw_errno(env, e, "llistxattr");
    }
    uint32_t i = 0;
    for (ssize_t off = 0; off < got;) {
      size_t l = strlen(buf + off);
      napi_value s;
      napi_create_string_utf8(env, buf + off, l, &s);
      napi_set_element(env, arr, i++, s);
      off += (ssize_t)l + 1;
    }
    free(buf);
    return arr;
  }
}

/* CRC-64/ISO (Go's hash/crc64 with crc64.ISO, as tar-split stores it), slicing-by-8. */
static uint64_t crc_tab[8][256];
static int crc_ready = 0;

static void crc_init(void) {
  const uint64_t poly = 0xD800000000000000ULL;
  for (int i = 0; i < 256; i++) {
    uint64_t c = (uint64_t)i;
    for (int j = 0; j < 8; j++) c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
    crc_tab[0][i] = c;
  }
  for (int i = 0; i < 256; i++) {
    uint64_t c = crc_tab[0][i];
    for (int k = 1; k < 8; k++) {
      c = crc_tab[0][c & 0xff] ^ (c >> 8);
      crc_tab[k][i] = c;
    }
  }
  crc_ready = 1;
}

/* crc64Update(state: Buffer(8), data: Buffer): state holds the running (inverted) CRC, little-endian. */
static napi_value crc64_update(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  void *st = NULL, *data = NULL;
  size_t stlen = 0, len = 0;
  if (napi_get_buffer_info(env, argv[0], &st, &stlen) != napi_ok || stlen != 8 ||
      napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected (Buffer(8), Buffer)");
    return NULL;
  }
  if (!crc_ready) crc_init();
  uint64_t crc;
  memcpy(&crc, st, 8);
  const unsigned char *p = data;
  while (len >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    crc ^= v;
    crc = crc_tab[7][crc & 0xff] ^ crc_tab[6][(crc >> 8) & 0xff] ^ crc_tab[5][(crc >> 16) & 0xff] ^ crc_tab[4][(crc >> 24) & 0xff] ^
          crc_tab[3][(crc >> 32) & 0xff] ^ crc_tab[2][(crc >> 40) & 0xff] ^ crc_tab[1][(crc >> 48) & 0xff] ^ crc_tab[0][crc >> 56];
    p += 8;
    len -= 8;
  }
  while (len--) crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  memcpy(st, &crc, 8);
  return NULL;
}

/* ---- createFiles: a batch of small regular files on the thread pool ---- */

/* Per file, in `meta` (a Float64Array): uid, gid, mode, mtime (seconds, >= 0), content length, chown (0/1). */
#define META_FIELDS 6
/* `flags` bit 0: an fchown failing with EINVAL (an ID the user namespace lacks) is skipped, not an error. */
#define CF_IGNORE_CHOWN_EINVAL 1

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref data_ref;
  const unsigned char *data;
  size_t data_len;
  char *paths;       /* NUL-terminated paths, back to back */
  size_t *path_off;  /* offset of each path in `paths` */
  double *meta;
  uint32_t count;
  int32_t flags;
  /* The first failure: the file's index, errno and the failing call (NULL when all went well). */
  uint32_t fail_index;
  int fail_errno;
  const char *fail_syscall;
} create_files_ctx;

/* Seconds → timespec, a fraction kept to the microsecond (store/apply.ts passes whole seconds only: Node's own
   futimes keeps microseconds or nanoseconds depending on its libuv, and fractional times go through it). */
static struct timespec seconds_to_timespec(double t) {
  struct timespec ts;
  ts.tv_sec = (time_t)t;
  ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
  ts.tv_nsec -= ts.tv_nsec % 1000;
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000L;
    ts.tv_sec -= 1;
  }
  return ts;
}

static void create_files_execute(napi_env env, void *arg) {
  (void)env;
  create_files_ctx *c = arg;
  size_t off = 0;
  for (uint32_t i = 0; i < c->count; i++) {
    const double *m = c->meta + (size_t)i * META_FIELDS;
    const char *path = c->paths + c->path_off[i];
    size_t len = (size_t)m[4];
    const char *failed = NULL;
    int fd;
    do { fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600); } while (fd == -1 && errno == EINTR);
    if (fd == -1) failed = "open";
    size_t done = 0;
    while (!failed && done < len) {
      ssize_t n = write(fd, c->data + off + done, len - done);
      if (n == -1) {
        if (errno != EINTR) failed = "write";
      } else {
        done += (size_t)n;
      }
    }
    if (!failed && m[5] != 0 && fchown(fd, (uid_t)m[0], (gid_t)m[1]) == -1 &&
        !(errno == EINVAL && (c->flags & CF_IGNORE_CHOWN_EINVAL))) failed = "fchown";
    if (!failed && fchmod(fd, (mode_t)m[2]) == -1) failed = "fchmod";
    if (!failed) {
      struct timespec ts[2];
      ts[0] = ts[1] = seconds_to_timespec(m[3]);
      if (futimens(fd, ts) == -1) failed = "futime";
    }
    int err = errno;
    if (fd != -1 && close(fd) == -1 && !failed) {
      failed = "close";
      err = errno;
    }
    if (failed) {
      c->fail_index = i;
      c->fail_errno = err;
      c->fail_syscall = failed;
      return;
    }
    off += len;
  }
}

static void create_files_complete(napi_env env, napi_status status, void *arg) {
  create_files_ctx *c = arg;
  if (status != napi_ok) {
    c->fail_syscall = "createFiles";
    c->fail_errno = EIO;
    c->fail_index = 0;
  }
  if (c->fail_syscall == NULL) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, c->deferred, undef);
  } else {
    const char *path = c->count ? c->paths + c->path_off[c->fail_index] : "";
    size_t mlen = strlen(path) + 256;
    char *msg = malloc(mlen);
    /* The code and text Node's own fs errors carry (libuv's), so that both ways of creating files fail alike. */
    const char *name = uv_err_name(-c->fail_errno);
    snprintf(msg, mlen, "%s: %s, %s '%s'", name, uv_strerror(-c->fail_errno), c->fail_syscall, path);
    napi_value code, message, error, v;
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
    free(msg);
    napi_create_error(env, code, message, &error);
    napi_set_named_property(env, error, "code", code);
    napi_create_int32(env, -c->fail_errno, &v);
    napi_set_named_property(env, error, "errno", v);
    napi_create_string_utf8(env, c->fail_syscall, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, error, "syscall", v);
    napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, error, "path", v);
    napi_create_uint32(env, c->fail_index, &v);
    napi_set_named_property(env, error, "index", v);
    napi_reject_deferred(env, c->deferred, error);
  }
  napi_delete_reference(env, c->data_ref);
  napi_delete_async_work(env, c->work);
  free(c->paths);
  free(c->path_off);
  free(c->meta);
  free(c);
}

/*
 * createFiles(paths: string[], meta: Float64Array, data: Buffer, flags) → Promise<void>.
 * Creates each file (which must not exist; the last component is never followed) with its content (the next
 * `length` bytes of `data`), owner (when asked), mode and times, in order, on the thread pool. Stops at the first
 * failure and rejects with an Error carrying code, errno, syscall, path and the file's index.
 */
static napi_value create_files(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  uint32_t count = 0;
  bool is_array = false;
  if (napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[0], &count) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected an array of paths");
    return NULL;
  }
  napi_typedarray_type ttype;
  size_t tlen = 0;
  void *tdata = NULL;
  bool is_ta = false;
  napi_is_typedarray(env, argv[1], &is_ta);
  if (!is_ta || napi_get_typedarray_info(env, argv[1], &ttype, &tlen, &tdata, NULL, NULL) != napi_ok || ttype != napi_float64_array ||
      tlen != (size_t)count * META_FIELDS) {
    napi_throw_type_error(env, NULL, "expected a Float64Array of 6 numbers per path");
    return NULL;
  }
  void *data = NULL;
  size_t data_len = 0;
  if (napi_get_buffer_info(env, argv[2], &data, &data_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a Buffer of contents");
    return NULL;
  }
  int32_t flags = 0;
  napi_get_value_int32(env, argv[3], &flags);
  size_t total = 0;
  for (uint32_t i = 0; i < count; i++) {
    double l = ((double *)tdata)[(size_t)i * META_FIELDS + 4];
    if (!(l >= 0)) {
      napi_throw_range_error(env, NULL, "negative content length");
      return NULL;
    }
    total += (size_t)l;
  }
  if (total != data_len) {
    napi_throw_range_error(env, NULL, "content lengths do not add up to the data buffer");
    return NULL;
  }
  create_files_ctx *c = calloc(1, sizeof *c);
  c->count = count;
  c->flags = flags;
  c->data = data;
  c->data_len = data_len;
  c->meta = malloc((count ? count : 1) * META_FIELDS * sizeof(double));
  memcpy(c->meta, tdata, (size_t)count * META_FIELDS * sizeof(double));
  c->path_off = malloc((count ? count : 1) * sizeof(size_t));
  size_t cap = 4096, used = 0;
  c->paths = malloc(cap);
  for (uint32_t i = 0; i < count; i++) {
    napi_value el;
    size_t len = 0;
    napi_get_element(env, argv[0], i, &el);
    if (napi_get_value_string_utf8(env, el, NULL, 0, &len) != napi_ok || len >= PATH_MAX_LEN - 1) {
      free(c->paths); free(c->path_off); free(c->meta); free(c);
      napi_throw_type_error(env, NULL, "expected a path string");
      return NULL;
    }
    while (used + len + 1 > cap) cap *= 2;
    c->paths = realloc(c->paths, cap);
    napi_get_value_string_utf8(env, el, c->paths + used, len + 1, &len);
    if (strlen(c->paths + used) != len) {
      free(c->paths); free(c->path_off); free(c->meta); free(c);
      napi_throw_type_error(env, NULL, "path contains NUL");
      return NULL;
    }
    c->path_off[i] = used;
    used += len + 1;
  }
  napi_create_reference(env, argv[2], 1, &c->data_ref);
  napi_value promise, resource;
  napi_create_promise(env, &c->deferred, &promise);
  napi_create_string_utf8(env, "ferryCreateFiles", NAPI_AUTO_LENGTH, &resource);
  napi_create_async_work(env, NULL, resource, create_files_execute, create_files_complete, c, &c->work);
  if (napi_queue_async_work(env, c->work) != napi_ok) {
    napi_delete_reference(env, c->data_ref);
    napi_delete_async_work(env, c->work);
    free(c->paths); free(c->path_off); free(c->meta); free(c);
    napi_throw_error(env, NULL, "cannot queue createFiles");
    return NULL;
  }
  return promise;
}

/* syncFs(fd) → Promise<void>: syncfs(2) of the file system holding the open file `fd`, on the thread pool (it
   waits for the disk). The caller keeps `fd` open until the promise settles. Rejects with code, errno, syscall. */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  int err;
} sync_fs_ctx;

static void sync_fs_execute(napi_env env, void *arg) {
  (void)env;
  sync_fs_ctx *c = arg;
  c->err = syncfs(c->fd) == -1 ? errno : 0;
}

static void sync_fs_complete(napi_env env, napi_status status, void *arg) {
  sync_fs_ctx *c = arg;
  if (status != napi_ok && c->err == 0) c->err = EIO;
  if (c->err == 0) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, c->deferred, undef);
  } else {
    const char *name = uv_err_name(-c->err);
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s, syncfs", name, uv_strerror(-c->err));
    napi_value code, message, error, v;
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &error);
    napi_set_named_property(env, error, "code", code);
    napi_create_int32(env, -c->err, &v);
    napi_set_named_property(env, error, "errno", v);
    napi_create_string_utf8(env, "syncfs", NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, error, "syscall", v);
    napi_reject_deferred(env, c->deferred, error);
  }
  napi_delete_async_work(env, c->work);
  free(c);
}

static napi_value sync_fs(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  int32_t fd = -1;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "expected a file descriptor");
    return NULL;
  }
  sync_fs_ctx *c = calloc(1, sizeof *c);
  if (c == NULL) return throw_errno(env, ENOMEM, "syncfs");
  c->fd = fd;
  napi_value promise, resource;
  napi_create_promise(env, &c->deferred, &promise);
  napi_create_string_utf8(env, "ferrySyncFs", NAPI_AUTO_LENGTH, &resource);
  napi_create_async_work(env, NULL, resource, sync_fs_execute, sync_fs_complete, c, &c->work);
  if (napi_queue_async_work(env, c->work) != napi_ok) {
    napi_delete_async_work(env, c->work);
    free(c);
    napi_throw_error(env, NULL, "cannot queue syncFs");
    return NULL;
  }
  return promise;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"setLock", NULL, set_lock, NULL, NULL, NULL, napi_enumerable, NULL},
    {"mknod", NULL, do_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
    {"lsetxattr", NULL, do_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
    {"lgetxattr", NULL, do_lgetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
    {"llistxattr", NULL, do_llistxattr, NULL, NULL, NULL, napi_enumerable, NULL},
    {"crc64Update", NULL, crc64_update, NULL, NULL, NULL, napi_enumerable, NULL},
    {"createFiles", NULL, create_files, NULL, NULL, NULL, napi_enumerable, NULL},
    {"syncFs", NULL, sync_fs, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
