/*
 * The capture's SPA screen: the HMAC screen of the SPA service's doors (spa-hmac.c) applied to a
 * captured frame, so a flood of bad-HMAC datagrams is refused without a JavaScript object per
 * packet. It refuses only what the SPA service (src/daemon/spa-service.ts) would refuse as a bad
 * HMAC, and only when the service hands it a screen over every door (see captureScreen there):
 * the frame is read as src/core/frame-decoder.ts reads it, the payload's text checked as
 * packetTextRefusal does, each door's lengths and expiry as its codec and rules do; whatever this
 * parser does not read goes to JavaScript unchanged.
 */
#include "capture-screen.h"
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

/* A screen has at most this many keys (spa-hmac.c's bound), so as many doors. */
#define MAX_SCREEN_DOORS 4096
/* 802.1ad stacks an S-tag on a C-tag; frame-decoder.ts's MAX_VLAN_TAGS. */
#define MAX_VLAN_TAGS 2
#define IPPROTO_UDP_NUMBER 17

typedef struct {
  uint32_t min_length;
  uint32_t max_length;
  int64_t expires_at; /* epoch second; -1: never */
} screen_door;

struct capture_screen {
  const spa_screen *screen;
  napi_ref screen_ref; /* keeps the HmacScreen (and its keys) alive while the capture uses it */
  uint16_t port;
  screen_door *doors;
  size_t door_count;
};

static uint16_t be16(const uint8_t *at) {
  return (uint16_t)((at[0] << 8) | at[1]);
}

static uint32_t le32(const uint8_t *at) {
  return (uint32_t)at[0] | (uint32_t)at[1] << 8 | (uint32_t)at[2] << 16 | (uint32_t)at[3] << 24;
}

static int read_property(napi_env env, napi_value object, const char *name, int64_t min, int64_t max, int64_t *out) {
  napi_value value;
  napi_valuetype type;
  double number = 0;
  if (napi_get_named_property(env, object, name, &value) != napi_ok || napi_typeof(env, value, &type) != napi_ok || type != napi_number) return 0;
  napi_get_value_double(env, value, &number);
  /* Written to fail for NaN too, before the integer cast sees the value. */
  if (!(number >= (double)min && number <= (double)max) || number != (double)(int64_t)number) return 0;
  *out = (int64_t)number;
  return 1;
}

capture_screen *capture_screen_new(napi_env env, napi_value port, napi_value screen, napi_value doors) {
  int64_t port_number = 0;
  napi_valuetype port_type;
  double port_value = 0;
  napi_typeof(env, port, &port_type);
  if (port_type != napi_number || napi_get_value_double(env, port, &port_value) != napi_ok || !(port_value >= 1 && port_value <= 65535) ||
      port_value != (double)(int64_t)port_value) {
    napi_throw_range_error(env, NULL, "port must be an integer in 1..65535");
    return NULL;
  }
  port_number = (int64_t)port_value;
  const spa_screen *s = spa_screen_of(env, screen);
  if (s == NULL) {
    napi_throw_type_error(env, NULL, "screen must be an HmacScreen");
    return NULL;
  }
  bool is_array = false;
  uint32_t count = 0;
  if (napi_is_array(env, doors, &is_array) != napi_ok || !is_array || napi_get_array_length(env, doors, &count) != napi_ok ||
      count != spa_screen_key_count(s) || count > MAX_SCREEN_DOORS) {
    napi_throw_type_error(env, NULL, "doors must be an array with one entry per key of the screen");
    return NULL;
  }
  capture_screen *cs = calloc(1, sizeof *cs);
  if (cs == NULL || (count > 0 && (cs->doors = calloc(count, sizeof *cs->doors)) == NULL)) {
    free(cs);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value entry;
    int64_t min_length, max_length, expires_at;
    napi_get_element(env, doors, i, &entry);
    if (!read_property(env, entry, "minLength", 0, SPA_SCREEN_MAX_PACKET_BYTES, &min_length) ||
        !read_property(env, entry, "maxLength", 0, SPA_SCREEN_MAX_PACKET_BYTES, &max_length) ||
        !read_property(env, entry, "expiresAt", -1, INT64_C(1) << 50, &expires_at)) {
      free(cs->doors);
      free(cs);
      napi_throw_type_error(env, NULL, "each door must be { minLength, maxLength: 0..1500, expiresAt: epoch second or -1 }");
      return NULL;
    }
    cs->doors[i] = (screen_door){(uint32_t)min_length, (uint32_t)max_length, expires_at};
  }
  cs->screen = s;
  cs->port = (uint16_t)port_number;
  cs->door_count = count;
  napi_create_reference(env, screen, 1, &cs->screen_ref);
  return cs;
}

void capture_screen_free(napi_env env, capture_screen *cs) {
  if (cs == NULL) return;
  napi_delete_reference(env, cs->screen_ref);
  free(cs->doors);
  free(cs);
}

/* Where the IP header starts and which version the link says it is (4 or 6); 0 when not IP or not read here. */
static int ip_start(int link_type, const uint8_t *frame, uint32_t length, uint32_t *start) {
  uint32_t field, header;
  switch (link_type) {
  case DLT_EN10MB:
    field = 12, header = 14;
    break;
  case DLT_LINUX_SLL:
    field = 14, header = 16;
    break;
  case DLT_LINUX_SLL2:
    field = 0, header = 20;
    break;
  case DLT_RAW:
    if (length < 1) return 0;
    *start = 0;
    return frame[0] >> 4;
  case DLT_NULL:
  case DLT_LOOP: {
    if (length < 4) return 0;
    /* NULL is host byte order, LOOP network order; frame-decoder.ts accepts either. */
    uint32_t le = le32(frame), be = (uint32_t)frame[0] << 24 | (uint32_t)frame[1] << 16 | (uint32_t)frame[2] << 8 | frame[3];
    *start = 4;
    if (le == 2 || be == 2) return 4;
    for (int i = 0; i < 4; i++) {
      static const uint32_t inet6[] = {10, 24, 28, 30};
      if (le == inet6[i] || be == inet6[i]) return 6;
    }
    return 0;
  }
  default:
    return 0;
  }
  if (length < header) return 0;
  uint16_t type = be16(frame + field);
  uint32_t offset = header;
  for (int tags = 0; type == 0x8100 || type == 0x88a8 || type == 0x9100; tags++) {
    if (tags == MAX_VLAN_TAGS || length < offset + 4) return 0;
    type = be16(frame + offset + 2);
    offset += 4;
  }
  *start = offset;
  return type == 0x0800 ? 4 : type == 0x86dd ? 6 : 0;
}

/* The UDP payload of a whole, unfragmented datagram to `port`, bounded as frame-decoder.ts bounds it; 0 otherwise. */
static int udp_payload(int link_type, const uint8_t *frame, uint32_t length, uint16_t port, const uint8_t **payload, uint32_t *payload_length) {
  uint32_t start = 0, transport, end;
  int version = ip_start(link_type, frame, length, &start);
  if (version == 4) {
    if (length < start + 20 || frame[start] >> 4 != 4) return 0;
    uint32_t header = (uint32_t)(frame[start] & 0x0f) * 4, total = be16(frame + start + 2);
    /* Any fragment (offset or more-fragments) is JavaScript's to refuse. */
    if (header < 20 || total < header || length < start + total || (be16(frame + start + 6) & 0x3fff) != 0) return 0;
    if (frame[start + 9] != IPPROTO_UDP_NUMBER) return 0;
    transport = start + header;
    end = start + total;
  } else if (version == 6) {
    if (length < start + 40 || frame[start] >> 4 != 6) return 0;
    uint32_t payload_bytes = be16(frame + start + 4);
    /* Extension headers (walked in JavaScript) and jumbograms are not read here. */
    if (payload_bytes == 0 || length < start + 40 + payload_bytes || frame[start + 6] != IPPROTO_UDP_NUMBER) return 0;
    transport = start + 40;
    end = start + 40 + payload_bytes;
  } else {
    return 0;
  }
  if (end < transport + 8) return 0;
  uint32_t udp_length = be16(frame + transport + 4);
  if (udp_length < 8 || transport + udp_length > end || be16(frame + transport + 2) != port) return 0;
  *payload = frame + transport + 8;
  *payload_length = udp_length - 8;
  return 1;
}

/* packetTextRefusal's checks: base64 characters only, and not the prefix the MAC covers put back. */
static int plain_packet_text(const spa_screen *s, const uint8_t *payload, uint32_t length) {
  size_t prefix_length = 0;
  const unsigned char *prefix = spa_screen_prefix(s, &prefix_length);
  if (length >= prefix_length && memcmp(payload, prefix, prefix_length) == 0) return 0;
  for (uint32_t i = 0; i < length; i++) {
    uint8_t c = payload[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=')) return 0;
  }
  return 1;
}

enum capture_verdict capture_screen_verdict(const capture_screen *cs, int link_type, const uint8_t *frame, uint32_t length, int64_t now_s) {
  const uint8_t *payload;
  uint32_t payload_length;
  if (!udp_payload(link_type, frame, length, cs->port, &payload, &payload_length)) return VERDICT_PASS;
  if (!plain_packet_text(cs->screen, payload, payload_length)) return VERDICT_PASS;
  /* Some door must try this length and be open: then its codec's error is the bad HMAC. */
  int tried = 0;
  for (size_t i = 0; i < cs->door_count && !tried; i++) {
    const screen_door *d = &cs->doors[i];
    tried = payload_length >= d->min_length && payload_length <= d->max_length && (d->expires_at < 0 || now_s <= d->expires_at);
  }
  if (!tried) return VERDICT_PASS;
  /* Any key's MAC (or an OpenSSL failure) and JavaScript decides. */
  return spa_screen_first_match(cs->screen, payload, payload_length, 0) == -1 ? VERDICT_BAD_HMAC : VERDICT_PASS;
}
