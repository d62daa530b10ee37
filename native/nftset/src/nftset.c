/*
 * nftables set elements over netlink, without a process in between:
 *
 *   open([netnsPath])  -> socket    a NETLINK_NETFILTER socket, in another namespace if asked
 *   commit(socket, ops)             NEWSETELEM / DELSETELEM messages in one batch, answers read back
 *   close(socket)
 *
 * The kernel runs an nfnetlink batch inside sendmsg(): when sendto returns, the transaction is
 * committed or aborted and every message's answer is queued on the socket. So a commit is
 * synchronous and short (the kernel's own work, tens of microseconds; longer only while another
 * transaction, such as a restore through nft, holds the nftables mutex), and the receive that
 * follows finds everything waiting; its timeout is only a bound against a kernel that never
 * answers. Every message asks for an acknowledgement, so the answer to each is known and the
 * first refusal is reported with the op it belongs to.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <node_api.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Ops in one batch: a grant is three per port, a NAT grant six; bounds the buffer below. */
#define MAX_OPS 256
/* A message holds names (≤ NFT_NAME_MAXLEN each), a key, a key end and data (≤ 64 bytes each). */
#define MAX_MESSAGE_BYTES 1024
#define BATCH_LIMIT (MAX_OPS * MAX_MESSAGE_BYTES + 2 * MNL_NLMSG_HDRLEN + 64)
#define MAX_KEY_BYTES 64
#define MAX_NAME_BYTES 256
/* The answers are queued before sendto returns; this only bounds a receive that finds none. */
#define RECEIVE_TIMEOUT_MS 1000

/* 32 KiB (libmnl's MNL_SOCKET_BUFFER_SIZE is no constant): an answer is 36 bytes, a refusal one request more. */
#define ANSWER_BYTES 32768

/* The buffers are the socket's own, so sockets of different worker threads never share one. */
typedef struct {
  struct mnl_socket *nl;
  uint32_t portid;
  uint32_t seq;
  /* libmnl wants twice the limit: a message that does not fit is built past it before being refused. */
  char batch[2 * BATCH_LIMIT];
  char answers[ANSWER_BYTES];
} nft_socket;

static napi_value throw_errno(napi_env env, const char *what, int err, int op) {
  char message[320];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  const char *name = strerrorname_np(err);
  napi_value code, msg, error, value;
  if (napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code) != napi_ok || napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg) != napi_ok ||
      napi_create_error(env, code, msg, &error) != napi_ok)
    return NULL;
  if (napi_create_int32(env, err, &value) == napi_ok) napi_set_named_property(env, error, "errno", value);
  if (op >= 0 && napi_create_int32(env, op, &value) == napi_ok) napi_set_named_property(env, error, "op", value);
  napi_throw(env, error);
  return NULL;
}

static void close_socket(nft_socket *s) {
  if (s->nl) mnl_socket_close(s->nl);
  s->nl = NULL;
}

static void finalize_socket(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  close_socket(data);
  free(data);
}

/* A socket made in the namespace `path` names: this thread enters it, makes the socket and comes back. */
static struct mnl_socket *open_in(const char *path, int *err) {
  if (!path) {
    struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
    if (!nl) *err = errno;
    return nl;
  }
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    *err = errno;
    return NULL;
  }
  int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) {
    *err = errno;
    close(target);
    return NULL;
  }
  struct mnl_socket *nl = NULL;
  if (setns(target, CLONE_NEWNET) != 0) *err = errno;
  else {
    nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
    if (!nl) *err = errno;
    /* Coming back cannot fail for a namespace we were in; if it did, this thread must not go on elsewhere. */
    if (setns(home, CLONE_NEWNET) != 0) abort();
  }
  close(target);
  close(home);
  return nl;
}

static napi_value nft_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  char path[4096];
  bool has_path = false;
  if (argc >= 1) {
    napi_valuetype type;
    napi_typeof(env, argv[0], &type);
    if (type == napi_string) {
      size_t len;
      if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len == 0 || len >= sizeof path - 1) {
        napi_throw_type_error(env, NULL, "open(netnsPath): a path to a network namespace");
        return NULL;
      }
      has_path = true;
    } else if (type != napi_undefined && type != napi_null) {
      napi_throw_type_error(env, NULL, "open(netnsPath): a path to a network namespace, or nothing");
      return NULL;
    }
  }
  int err = 0;
  struct mnl_socket *nl = open_in(has_path ? path : NULL, &err);
  if (!nl) return throw_errno(env, has_path ? "netlink socket in that namespace" : "netlink socket", err, -1);
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) != 0) {
    err = errno;
    mnl_socket_close(nl);
    return throw_errno(env, "bind netlink socket", err, -1);
  }
  struct timeval tv = {.tv_sec = RECEIVE_TIMEOUT_MS / 1000, .tv_usec = (RECEIVE_TIMEOUT_MS % 1000) * 1000};
  setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  nft_socket *s = calloc(1, sizeof *s);
  if (!s) {
    mnl_socket_close(nl);
    return throw_errno(env, "open", ENOMEM, -1);
  }
  s->nl = nl;
  s->portid = mnl_socket_get_portid(nl);
  s->seq = (uint32_t)time(NULL);
  napi_value handle;
  if (napi_create_external(env, s, finalize_socket, NULL, &handle) != napi_ok) {
    finalize_socket(env, s, NULL);
    return NULL;
  }
  return handle;
}

static nft_socket *socket_arg(napi_env env, napi_value v) {
  nft_socket *s = NULL;
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_external || napi_get_value_external(env, v, (void **)&s) != napi_ok || !s) {
    napi_throw_type_error(env, NULL, "not a socket from open()");
    return NULL;
  }
  if (!s->nl) {
    napi_throw_error(env, "EBADF", "the socket is closed");
    return NULL;
  }
  return s;
}

static napi_value nft_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return NULL;
  nft_socket *s = NULL;
  napi_valuetype type;
  if (napi_typeof(env, argv[0], &type) == napi_ok && type == napi_external && napi_get_value_external(env, argv[0], (void **)&s) == napi_ok && s) close_socket(s);
  return NULL;
}

/* Reads a string property into out (size bytes); false with a TypeError thrown when absent or too long. */
static bool get_name(napi_env env, napi_value obj, const char *prop, char *out, size_t size) {
  napi_value v;
  size_t len;
  if (napi_get_named_property(env, obj, prop, &v) != napi_ok || napi_get_value_string_utf8(env, v, out, size, &len) != napi_ok || len == 0 || len >= size - 1) {
    char message[96];
    snprintf(message, sizeof message, "op.%s: a name of 1..%zu bytes", prop, size - 2);
    napi_throw_type_error(env, NULL, message);
    return false;
  }
  return true;
}

/* A Buffer property: *len 0 when absent; false with a TypeError when not a Buffer of 1..MAX_KEY_BYTES. */
static bool get_bytes(napi_env env, napi_value obj, const char *prop, void **data, size_t *len) {
  bool has;
  *len = 0;
  if (napi_has_named_property(env, obj, prop, &has) != napi_ok) return false;
  if (!has) return true;
  napi_value v;
  napi_valuetype type;
  if (napi_get_named_property(env, obj, prop, &v) != napi_ok || napi_typeof(env, v, &type) != napi_ok) return false;
  if (type == napi_undefined) return true;
  bool is_buffer;
  if (napi_is_buffer(env, v, &is_buffer) != napi_ok || !is_buffer || napi_get_buffer_info(env, v, data, len) != napi_ok || *len == 0 || *len > MAX_KEY_BYTES) {
    char message[96];
    snprintf(message, sizeof message, "op.%s: a Buffer of 1..%d bytes", prop, MAX_KEY_BYTES);
    napi_throw_type_error(env, NULL, message);
    return false;
  }
  return true;
}

/* One op as one message at `buf`; false with an exception pending. */
static bool put_op(napi_env env, napi_value op, char *buf, uint32_t seq) {
  char table[MAX_NAME_BYTES + 2], set[MAX_NAME_BYTES + 2];
  napi_value v;
  bool add = false;
  if (napi_get_named_property(env, op, "add", &v) != napi_ok || napi_get_value_bool(env, v, &add) != napi_ok) {
    napi_throw_type_error(env, NULL, "op.add: true (add) or false (delete)");
    return false;
  }
  if (!get_name(env, op, "table", table, sizeof table) || !get_name(env, op, "set", set, sizeof set)) return false;
  bool exclusive = false, has_exclusive;
  if (napi_has_named_property(env, op, "exclusive", &has_exclusive) != napi_ok) return false;
  if (has_exclusive && (napi_get_named_property(env, op, "exclusive", &v) != napi_ok || napi_get_value_bool(env, v, &exclusive) != napi_ok)) {
    napi_throw_type_error(env, NULL, "op.exclusive: true or false");
    return false;
  }
  void *key, *key_end, *data;
  size_t key_len, key_end_len, data_len;
  if (!get_bytes(env, op, "key", &key, &key_len) || !get_bytes(env, op, "keyEnd", &key_end, &key_end_len) || !get_bytes(env, op, "data", &data, &data_len)) return false;
  if (key_len == 0) {
    napi_throw_type_error(env, NULL, "op.key: a Buffer is needed");
    return false;
  }
  double timeout = 0;
  bool has_timeout;
  if (napi_has_named_property(env, op, "timeoutMs", &has_timeout) != napi_ok) return false;
  if (has_timeout && napi_get_named_property(env, op, "timeoutMs", &v) == napi_ok) {
    napi_valuetype type;
    napi_typeof(env, v, &type);
    if (type != napi_undefined && (napi_get_value_double(env, v, &timeout) != napi_ok || !(timeout >= 1 && timeout < 1e15))) {
      napi_throw_type_error(env, NULL, "op.timeoutMs: milliseconds, at least 1");
      return false;
    }
  }

  struct nftnl_set *s = nftnl_set_alloc();
  struct nftnl_set_elem *e = nftnl_set_elem_alloc();
  if (!s || !e) {
    if (s) nftnl_set_free(s);
    if (e) nftnl_set_elem_free(e);
    throw_errno(env, "commit", ENOMEM, -1);
    return false;
  }
  nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
  nftnl_set_set_str(s, NFTNL_SET_NAME, set);
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, key_len);
  if (key_end_len) nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY_END, key_end, key_end_len);
  if (data_len) nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, data, data_len);
  if (add && timeout >= 1) nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, (uint64_t)timeout);
  nftnl_set_elem_add(s, e);
  /* NLM_F_CREATE alone: adding an element already there is not an error (nft's `add element`); with NLM_F_EXCL it is EEXIST (`create element`). */
  uint16_t flags = (add ? NLM_F_CREATE : 0) | (add && exclusive ? NLM_F_EXCL : 0) | NLM_F_ACK;
  struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM, NFPROTO_INET, flags, seq);
  nftnl_set_elems_nlmsg_build_payload(nlh, s);
  nftnl_set_free(s);
  if (nlh->nlmsg_len > MAX_MESSAGE_BYTES) {
    napi_throw_range_error(env, NULL, "op: message too long");
    return false;
  }
  return true;
}

/*
 * The kernel's answers to the ops, seq first..first+n-1: an acknowledgement (error 0) or an errno
 * each. A refusal of the batch itself (answered for the begin message) ends it too. Returns 0, or
 * the first errno with *failed set to its op (-1 for the batch).
 */
static int read_answers(nft_socket *s, uint32_t begin_seq, uint32_t first, uint32_t n, int *failed) {
  char *buf = s->answers;
  uint32_t answered = 0;
  int result = 0;
  *failed = -1;
  /* Each read brings at least one message, ours or one left by a commit that stopped early: bounded. */
  for (uint32_t reads = 0; answered < n && reads <= 2 * n + 2; reads++) {
    ssize_t got = mnl_socket_recvfrom(s->nl, buf, ANSWER_BYTES);
    if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
    int len = (int)got;
    for (struct nlmsghdr *nlh = (struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
      if (nlh->nlmsg_pid != s->portid || nlh->nlmsg_type != NLMSG_ERROR) continue;
      const struct nlmsgerr *answer = mnl_nlmsg_get_payload(nlh);
      uint32_t seq = nlh->nlmsg_seq;
      if (seq == begin_seq && answer->error != 0) {
        *failed = -1;
        return -answer->error;
      }
      if (seq < first || seq >= first + n) continue;
      answered++;
      if (answer->error != 0 && result == 0) {
        result = -answer->error;
        *failed = (int)(seq - first);
      }
    }
  }
  return answered < n && result == 0 ? ETIMEDOUT : result;
}

static napi_value nft_commit(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "commit(socket, ops) needs two arguments");
    return NULL;
  }
  nft_socket *s = socket_arg(env, argv[0]);
  if (!s) return NULL;
  bool is_array;
  uint32_t n;
  if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[1], &n) != napi_ok || n == 0 || n > MAX_OPS) {
    char message[64];
    snprintf(message, sizeof message, "commit: ops must be an array of 1..%d", MAX_OPS);
    napi_throw_range_error(env, NULL, message);
    return NULL;
  }
  struct mnl_nlmsg_batch *batch = mnl_nlmsg_batch_start(s->batch, BATCH_LIMIT);
  uint32_t begin_seq = s->seq++;
  nftnl_batch_begin(mnl_nlmsg_batch_current(batch), begin_seq);
  mnl_nlmsg_batch_next(batch);
  uint32_t first = s->seq;
  for (uint32_t i = 0; i < n; i++) {
    napi_value op;
    if (napi_get_element(env, argv[1], i, &op) != napi_ok || !put_op(env, op, mnl_nlmsg_batch_current(batch), s->seq++)) {
      mnl_nlmsg_batch_stop(batch);
      return NULL;
    }
    mnl_nlmsg_batch_next(batch);
  }
  nftnl_batch_end(mnl_nlmsg_batch_current(batch), s->seq++);
  mnl_nlmsg_batch_next(batch);
  ssize_t sent = mnl_socket_sendto(s->nl, mnl_nlmsg_batch_head(batch), mnl_nlmsg_batch_size(batch));
  mnl_nlmsg_batch_stop(batch);
  if (sent < 0) return throw_errno(env, "send netlink batch", errno, -1);
  int failed;
  int err = read_answers(s, begin_seq, first, n, &failed);
  if (err != 0) return throw_errno(env, failed >= 0 ? "set element refused" : "netlink batch refused", err, failed);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn, max;
  if (napi_create_function(env, "open", NAPI_AUTO_LENGTH, nft_open, NULL, &fn) != napi_ok || napi_set_named_property(env, exports, "open", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "commit", NAPI_AUTO_LENGTH, nft_commit, NULL, &fn) != napi_ok || napi_set_named_property(env, exports, "commit", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "close", NAPI_AUTO_LENGTH, nft_close, NULL, &fn) != napi_ok || napi_set_named_property(env, exports, "close", fn) != napi_ok) return NULL;
  if (napi_create_int32(env, MAX_OPS, &max) != napi_ok || napi_set_named_property(env, exports, "MAX_OPS", max) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
