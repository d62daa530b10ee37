/*
 * knockgate's socket and link facts for the guard, as two functions (no libpcap):
 *
 *   dumpSockets(protocol, family, states, netnsFd, maxRecords) -> Buffer
 *     one sock_diag (inet_diag) dump of the kernel's TCP or UDP sockets in the given states,
 *     inside the network namespace `netnsFd` (an open /proc/<pid>/ns/net, or -1 for our own);
 *     packed records of RECORD_BYTES each (layout below), at most maxRecords.
 *   nftGeneration(netnsFd) -> number
 *     nftables' ruleset generation (NFT_MSG_GETGEN), which every committed change bumps
 *     (nft and iptables-nft alike): the NAT check re-reads the ruleset only when it moved.
 *   sendFrame(ifname, frame, netnsFd) -> bytes sent
 *     one raw link-layer frame out of an interface (AF_PACKET), for the DHCP probe, the router
 *     solicitation and the ARP probe, which Node's sockets cannot address to one interface.
 *
 * Why native: /proc/net cannot tell whether a [::] socket is IPV6_V6ONLY, which cgroup created a
 * socket, or show a TCP socket that is bound without listening (Linux 6.5+ dumps those through
 * inet_diag as TCP_BOUND_INACTIVE); Node has no netlink and no packet sockets.
 *
 * A namespace is entered only to create the socket: a netlink or packet socket stays in the
 * namespace it was created in, so the calling thread returns to its own at once.
 *
 * Record layout (little-endian):
 *   0 u8 family (4|6)   1 u8 state   2 u8 v6only (0, 1, or 255 unknown)   3 u8 unused
 *   4 u16 local port    6 u16 remote port   8 u32 uid   12 u32 inode   16 u32 bound interface
 *  20 u32 unused       24 u64 cgroup id (0 unknown)   32 16 bytes local address   48 16 bytes remote
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/inet_diag.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define RECORD_BYTES 64
/* A guard scan keeps at most 65,536 sockets per namespace; the caller may ask for fewer. */
#define MAX_RECORDS 1048576
/* One netlink read: the kernel fills up to this much per recvmsg of a dump. */
#define RECV_BYTES (64 * 1024)
/* A link-layer frame we send: Ethernet + IPv4/IPv6 + a DHCP or ICMPv6 message. */
#define MAX_FRAME_BYTES 1514
#define MIN_FRAME_BYTES 14

static void throw_errno(napi_env env, const char *what, int err) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_value error, msg, code;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_int32(env, err, &code);
  napi_set_named_property(env, error, "errno", code);
  napi_throw(env, error);
}

static int get_int(napi_env env, napi_value v, int64_t *out, const char *what) {
  if (napi_get_value_int64(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return 0;
  }
  return 1;
}

/* socket() inside the namespace `ns_fd` (or our own for -1); -1 with errno set on failure. */
static int socket_in(int ns_fd, int domain, int type, int protocol) {
  if (ns_fd < 0) return socket(domain, type, protocol);
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) return -1;
  if (setns(ns_fd, CLONE_NEWNET) != 0) {
    int err = errno;
    close(self);
    errno = err;
    return -1;
  }
  int fd = socket(domain, type, protocol);
  int err = errno;
  /* Staying in another namespace would make every later socket of this thread land there. */
  if (setns(self, CLONE_NEWNET) != 0) napi_fatal_error("netdiag", NAPI_AUTO_LENGTH, "cannot return to the own network namespace", NAPI_AUTO_LENGTH);
  close(self);
  errno = err;
  return fd;
}

/* Sends one request to the kernel; 0, or an errno. */
static int netlink_send(int fd, const void *msg, size_t len) {
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  return sendto(fd, msg, len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0 ? errno : 0;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v & 0xff; p[1] = v >> 8; }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (v >> (8 * i)) & 0xff; }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (v >> (8 * i)) & 0xff; }

static void record_of(uint8_t *r, const struct inet_diag_msg *m, int payload) {
  memset(r, 0, RECORD_BYTES);
  r[0] = m->idiag_family == AF_INET6 ? 6 : 4;
  r[1] = m->idiag_state;
  r[2] = 255;
  put16(r + 4, ntohs(m->id.idiag_sport));
  put16(r + 6, ntohs(m->id.idiag_dport));
  put32(r + 8, m->idiag_uid);
  put32(r + 12, m->idiag_inode);
  put32(r + 16, m->id.idiag_if);
  size_t alen = m->idiag_family == AF_INET6 ? 16 : 4;
  memcpy(r + 32, m->id.idiag_src, alen);
  memcpy(r + 48, m->id.idiag_dst, alen);
  struct rtattr *a = (struct rtattr *)(m + 1);
  int len = payload - (int)NLMSG_ALIGN(sizeof *m);
  for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type == INET_DIAG_SKV6ONLY && RTA_PAYLOAD(a) >= 1) r[2] = *(uint8_t *)RTA_DATA(a) ? 1 : 0;
    if (a->rta_type == INET_DIAG_CGROUP_ID && RTA_PAYLOAD(a) >= 8) {
      uint64_t id;
      memcpy(&id, RTA_DATA(a), 8);
      put64(r + 24, id);
    }
  }
}

static napi_value dump_sockets(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "dumpSockets(protocol, family, states, netnsFd, maxRecords)");
    return NULL;
  }
  int64_t protocol, family, states, ns_fd, max_records;
  if (!get_int(env, argv[0], &protocol, "protocol must be a number") || !get_int(env, argv[1], &family, "family must be a number") ||
      !get_int(env, argv[2], &states, "states must be a number") || !get_int(env, argv[3], &ns_fd, "netnsFd must be a number") ||
      !get_int(env, argv[4], &max_records, "maxRecords must be a number"))
    return NULL;
  if ((protocol != IPPROTO_TCP && protocol != IPPROTO_UDP) || (family != 4 && family != 6) || max_records < 0 || max_records > MAX_RECORDS) {
    napi_throw_range_error(env, NULL, "dumpSockets: protocol 6|17, family 4|6, maxRecords 0..1048576");
    return NULL;
  }
  int fd = socket_in((int)ns_fd, AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) {
    throw_errno(env, "sock_diag socket", errno);
    return NULL;
  }
  struct {
    struct nlmsghdr nlh;
    struct inet_diag_req_v2 req;
  } msg;
  memset(&msg, 0, sizeof msg);
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.nlh.nlmsg_seq = 1;
  msg.req.sdiag_family = family == 6 ? AF_INET6 : AF_INET;
  msg.req.sdiag_protocol = (uint8_t)protocol;
  msg.req.idiag_states = (uint32_t)states;
  msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  int sent = netlink_send(fd, &msg, sizeof msg);
  if (sent) {
    close(fd);
    throw_errno(env, "sock_diag request", sent);
    return NULL;
  }
  size_t cap = 256, count = 0, dropped = 0;
  uint8_t *out = malloc(cap * RECORD_BYTES);
  uint8_t *buf = malloc(RECV_BYTES);
  int err = 0, done = 0;
  if (!out || !buf) err = ENOMEM;
  while (!err && !done) {
    ssize_t n = recv(fd, buf, RECV_BYTES, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    if (n == 0) break;
    int len = (int)n;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) {
        done = 1;
        break;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = NLMSG_DATA(h);
        err = e->error ? -e->error : EPROTO;
        break;
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) continue;
      if (count >= (size_t)max_records) {
        dropped++;
        continue;
      }
      if (count == cap) {
        uint8_t *grown = realloc(out, cap * 2 * RECORD_BYTES);
        if (!grown) {
          err = ENOMEM;
          break;
        }
        out = grown;
        cap *= 2;
      }
      record_of(out + count * RECORD_BYTES, NLMSG_DATA(h), (int)(h->nlmsg_len - NLMSG_LENGTH(0)));
      count++;
    }
  }
  close(fd);
  free(buf);
  if (err) {
    free(out);
    throw_errno(env, "sock_diag dump", err);
    return NULL;
  }
  napi_value result, dropped_value;
  void *data;
  napi_create_buffer_copy(env, count * RECORD_BYTES, out ? out : (void *)"", &data, &result);
  free(out);
  napi_create_int64(env, (int64_t)dropped, &dropped_value);
  napi_set_named_property(env, result, "dropped", dropped_value);
  return result;
}

static napi_value nft_generation(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t ns_fd = -1;
  if (argc >= 1 && !get_int(env, argv[0], &ns_fd, "netnsFd must be a number")) return NULL;
  int fd = socket_in((int)ns_fd, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) {
    throw_errno(env, "nfnetlink socket", errno);
    return NULL;
  }
  struct {
    struct nlmsghdr nlh;
    struct nfgenmsg gen;
  } msg;
  memset(&msg, 0, sizeof msg);
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST;
  msg.nlh.nlmsg_seq = 1;
  msg.gen.nfgen_family = AF_UNSPEC;
  msg.gen.version = NFNETLINK_V0;
  int sent = netlink_send(fd, &msg, sizeof msg);
  if (sent) {
    close(fd);
    throw_errno(env, "nft generation request", sent);
    return NULL;
  }
  uint8_t buf[4096];
  ssize_t n;
  do n = recv(fd, buf, sizeof buf, 0);
  while (n < 0 && errno == EINTR);
  int err = n < 0 ? errno : 0;
  close(fd);
  if (n < 0) {
    throw_errno(env, "nft generation", err);
    return NULL;
  }
  int len = (int)n;
  for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
    if (h->nlmsg_type == NLMSG_ERROR) {
      struct nlmsgerr *e = NLMSG_DATA(h);
      throw_errno(env, "nft generation", e->error ? -e->error : EPROTO);
      return NULL;
    }
    if (h->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN)) continue;
    struct rtattr *a = (struct rtattr *)((uint8_t *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
    int alen = (int)h->nlmsg_len - (int)NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct nfgenmsg)));
    for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
      if ((a->rta_type & NLA_TYPE_MASK) == NFTA_GEN_ID && RTA_PAYLOAD(a) >= 4) {
        uint32_t id;
        memcpy(&id, RTA_DATA(a), 4);
        napi_value result;
        napi_create_uint32(env, ntohl(id), &result);
        return result;
      }
    }
  }
  throw_errno(env, "nft generation: no generation in the answer", EPROTO);
  return NULL;
}

static napi_value send_frame(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "sendFrame(ifname, frame, netnsFd)");
    return NULL;
  }
  char ifname[IF_NAMESIZE + 1];
  size_t ilen = 0;
  if (napi_get_value_string_utf8(env, argv[0], ifname, sizeof ifname, &ilen) != napi_ok || ilen == 0 || ilen >= IF_NAMESIZE) {
    napi_throw_type_error(env, NULL, "sendFrame: ifname must be an interface name");
    return NULL;
  }
  void *frame;
  size_t flen;
  bool is_buffer = false;
  napi_is_buffer(env, argv[1], &is_buffer);
  if (!is_buffer || napi_get_buffer_info(env, argv[1], &frame, &flen) != napi_ok || flen < MIN_FRAME_BYTES || flen > MAX_FRAME_BYTES) {
    napi_throw_range_error(env, NULL, "sendFrame: frame must be a Buffer of 14..1514 bytes");
    return NULL;
  }
  int64_t ns_fd;
  if (!get_int(env, argv[2], &ns_fd, "netnsFd must be a number")) return NULL;
  int fd = socket_in((int)ns_fd, AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, "packet socket", errno);
    return NULL;
  }
  /* The index is looked up through the socket's own namespace (SIOCGIFINDEX), not ours. */
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, ifname, ilen);
  if (ioctl(fd, SIOCGIFINDEX, &ifr) != 0) {
    int err = errno;
    close(fd);
    throw_errno(env, ifname, err);
    return NULL;
  }
  struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_ifindex = ifr.ifr_ifindex, .sll_halen = ETH_ALEN};
  memcpy(to.sll_addr, frame, ETH_ALEN);
  ssize_t n = sendto(fd, frame, flen, 0, (struct sockaddr *)&to, sizeof to);
  int err = errno;
  close(fd);
  if (n < 0) {
    throw_errno(env, "send frame", err);
    return NULL;
  }
  napi_value result;
  napi_create_int64(env, n, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value f;
  napi_create_function(env, "dumpSockets", NAPI_AUTO_LENGTH, dump_sockets, NULL, &f);
  napi_set_named_property(env, exports, "dumpSockets", f);
  napi_create_function(env, "nftGeneration", NAPI_AUTO_LENGTH, nft_generation, NULL, &f);
  napi_set_named_property(env, exports, "nftGeneration", f);
  napi_create_function(env, "sendFrame", NAPI_AUTO_LENGTH, send_frame, NULL, &f);
  napi_set_named_property(env, exports, "sendFrame", f);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
