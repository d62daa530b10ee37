/*
 * Two Unix-socket calls Node does not offer:
 *
 *   peerCredentials(fd) -> { pid, uid, gid }   getsockopt(SO_PEERCRED) on a connected socket
 *   sendDatagram(path, buffer)                  one SOCK_DGRAM message to a socket path
 *
 * The control socket caps connections per peer uid with the first; the second tells systemd
 * (sd_notify's protocol: READY=1 and friends to $NOTIFY_SOCKET) when the doors are live. Both
 * are single system calls, made synchronously: neither blocks (a datagram to a local socket is
 * queued or refused at once).
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <node_api.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* sd_notify messages are a few short lines; anything longer is a caller's mistake. */
#define MAX_DATAGRAM_BYTES 4096

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, message);
  return NULL;
}

static napi_value set_int(napi_env env, napi_value obj, const char *name, int64_t value) {
  napi_value v;
  if (napi_create_int64(env, value, &v) != napi_ok || napi_set_named_property(env, obj, name, v) != napi_ok) return NULL;
  return obj;
}

static napi_value peer_credentials(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "peerCredentials(fd) needs a file descriptor");
    return NULL;
  }
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return throw_errno(env, "getsockopt(SO_PEERCRED)", errno);
  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok) return NULL;
  if (!set_int(env, obj, "pid", cred.pid) || !set_int(env, obj, "uid", cred.uid) || !set_int(env, obj, "gid", cred.gid)) return NULL;
  return obj;
}

static napi_value send_datagram(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "sendDatagram(path, buffer) needs two arguments");
    return NULL;
  }
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  size_t path_len = 0;
  /* One byte short of sun_path, so a file-system path stays NUL-terminated. */
  if (napi_get_value_string_utf8(env, argv[0], addr.sun_path, sizeof addr.sun_path, &path_len) != napi_ok || path_len == 0 || path_len >= sizeof addr.sun_path - 1) {
    napi_throw_type_error(env, NULL, "sendDatagram: the socket path must be a string of 1..106 bytes");
    return NULL;
  }
  /* "@name" is the abstract namespace: a leading NUL, and the length counts exactly the name. */
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len + (addr.sun_path[0] == '\0' ? 0 : 1));
  void *data;
  size_t data_len;
  bool is_buffer = false;
  if (napi_is_buffer(env, argv[1], &is_buffer) != napi_ok || !is_buffer || napi_get_buffer_info(env, argv[1], &data, &data_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "sendDatagram: the message must be a Buffer");
    return NULL;
  }
  if (data_len > MAX_DATAGRAM_BYTES) {
    napi_throw_range_error(env, NULL, "sendDatagram: the message is longer than 4096 bytes");
    return NULL;
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_UNIX, SOCK_DGRAM)", errno);
  ssize_t sent = sendto(fd, data, data_len, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&addr, addr_len);
  int err = errno;
  close(fd);
  if (sent < 0) return throw_errno(env, "sendto", err);
  if ((size_t)sent != data_len) return throw_errno(env, "sendto (short)", EMSGSIZE);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"peerCredentials", NULL, peer_credentials, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendDatagram", NULL, send_datagram, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
