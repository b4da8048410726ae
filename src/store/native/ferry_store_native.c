/*
 * ferry-store-native: the few system calls Node lacks that a containers/storage-compatible store needs.
 *  - fcntl(2) whole-file record locks (F_SETLK; the caller polls, so the event loop never blocks),
 *    the same locks containers/storage's pkg/lockfile takes;
 *  - mknod(2) for device nodes, FIFOs and overlay whiteouts (0/0 character devices);
 *  - lsetxattr(2), lgetxattr(2), llistxattr(2) for file capabilities, opaque directories and other xattrs;
 *  - CRC-64/ISO (slicing-by-8), the checksum tar-split records for every file (hot path of layer writes).
 * Every function is synchronous and throws an Error with `code` (errno name) and `errno` on failure.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <stdint.h>
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

static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(err));
  napi_value code, message, error, errnum;
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
    default: break;
  }
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

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"setLock", NULL, set_lock, NULL, NULL, NULL, napi_enumerable, NULL},
    {"mknod", NULL, do_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
    {"lsetxattr", NULL, do_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
    {"lgetxattr", NULL, do_lgetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
    {"llistxattr", NULL, do_llistxattr, NULL, NULL, NULL, napi_enumerable, NULL},
    {"crc64Update", NULL, crc64_update, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
