/*
 * knockgate's SPA HMAC screen: which of an SPA server's access.conf keys made a packet's MAC.
 *
 *   new HmacScreen(keys, prefix)
 *     keys: [{ digest, key, macChars }] in the order the server tries its doors; digest is an
 *     OpenSSL digest name ("sha256", "sha3-512", ...), key the HMAC key, macChars the length of
 *     the MAC as unpadded base64 on the wire. prefix: bytes the MAC covers before the packet's own
 *     (fwknop's "U2FsdGVkX1", stripped on the wire).
 *   screen.firstMatch(packet, from) -> index of the first key at or after `from` whose HMAC of
 *     prefix ‖ packet[0, length - macChars) is, as base64 text, the packet's last macChars bytes;
 *     -1 when none is.
 *
 * Why native: fwknopd tries each stanza's key in turn, so with per-operator keys a flood of bad
 * packets costs one HMAC per stanza per packet. Done from JavaScript that is a Hmac object, two
 * updates, a digest string and a compare per key (~4 us each); here each key's HMAC state is keyed
 * once, at construction, and a packet costs one context copy and the hash of its bytes per key,
 * with no JavaScript value made until the answer. The text comparison is constant-time, as the
 * JavaScript codec's: base64's last character has spare bits, so comparing decoded bytes would
 * accept a second MAC text for the same packet.
 *
 * The capture (capture.c) holds a screen too, and checks each captured SPA datagram with it
 * before the frame reaches JavaScript.
 *
 * Node's own OpenSSL does the hashing (Node exports its symbols to addons), so no crypto library
 * is linked here.
 */
/* SHA-256's state and update calls, deprecated in OpenSSL 3 but exported: see sha256_keyed. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "spa-hmac.h"
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

/* access.conf stanzas one server holds keys for; a bound so a screen's memory is bounded too. */
#define MAX_KEYS 4096
/* Longest HMAC key (fwknop's key files hold at most 128 bytes once decoded). */
#define MAX_KEY_BYTES 1024
/* Longest prefix hashed before a packet. */
#define MAX_PREFIX_BYTES 64
/* SHA-512's 64 bytes as base64 (88 characters with padding). */
#define MAX_MAC_CHARS 88

/*
 * HMAC-SHA256 (fwknop's default) as RFC 2104 defines it, with both pads already hashed: a copy of
 * a SHA256_CTX is a memcpy, where a copy of an EVP_MAC_CTX allocates through the provider and
 * costs twice the hash of a packet. Other digests go through EVP_MAC.
 */
typedef struct {
  SHA256_CTX inner; /* after key ^ ipad */
  SHA256_CTX outer; /* after key ^ opad */
} sha256_keyed;

typedef struct {
  EVP_MAC_CTX *keyed; /* keyed once; copied per packet; NULL for SHA-256 */
  sha256_keyed *sha256;
  size_t mac_chars;
} screen_key;

typedef struct spa_screen {
  screen_key *keys;
  size_t count;
  unsigned char prefix[MAX_PREFIX_BYTES];
  size_t prefix_len;
} screen;

/* Marks the objects whose native part is a screen, so the capture can take one from JavaScript safely. */
static const napi_type_tag SCREEN_TAG = {0x6b6e6f636b676174ULL, 0x652d73706168636dULL};

static void free_screen(screen *s) {
  for (size_t i = 0; i < s->count; i++) {
    EVP_MAC_CTX_free(s->keys[i].keyed);
    free(s->keys[i].sha256);
  }
  free(s->keys);
  free(s);
}

static void finalize_screen(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free_screen(data);
}

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static int get_buffer(napi_env env, napi_value value, void **data, size_t *len) {
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer) return 0;
  return napi_get_buffer_info(env, value, data, len) == napi_ok;
}

/* One key's HMAC context, keyed now; NULL with *error set when OpenSSL refuses. */
static EVP_MAC_CTX *keyed_context(EVP_MAC *mac, const char *digest, const unsigned char *key, size_t key_len, const char **error) {
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
  if (!ctx) {
    *error = "out of memory";
    return NULL;
  }
  OSSL_PARAM params[] = {
    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0),
    OSSL_PARAM_construct_end(),
  };
  if (!EVP_MAC_init(ctx, key, key_len, params)) {
    EVP_MAC_CTX_free(ctx);
    *error = "OpenSSL has no HMAC for this digest";
    return NULL;
  }
  return ctx;
}

static sha256_keyed *sha256_keyed_new(const unsigned char *key, size_t key_len) {
  sha256_keyed *k = malloc(sizeof *k);
  if (!k) return NULL;
  unsigned char block[SHA256_CBLOCK] = {0};
  if (key_len > SHA256_CBLOCK) {
    SHA256(key, key_len, block);
  } else {
    memcpy(block, key, key_len);
  }
  unsigned char pad[SHA256_CBLOCK];
  for (size_t i = 0; i < SHA256_CBLOCK; i++) pad[i] = block[i] ^ 0x36;
  SHA256_Init(&k->inner);
  SHA256_Update(&k->inner, pad, sizeof pad);
  for (size_t i = 0; i < SHA256_CBLOCK; i++) pad[i] = block[i] ^ 0x5c;
  SHA256_Init(&k->outer);
  SHA256_Update(&k->outer, pad, sizeof pad);
  OPENSSL_cleanse(block, sizeof block);
  OPENSSL_cleanse(pad, sizeof pad);
  return k;
}

static napi_value screen_new(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], self;
  napi_get_cb_info(env, info, &argc, argv, &self, NULL);
  if (argc < 2) return throw_error(env, "HmacScreen(keys, prefix)");
  bool is_array = false;
  uint32_t count = 0;
  if (napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) return throw_error(env, "keys must be an array");
  napi_get_array_length(env, argv[0], &count);
  if (count > MAX_KEYS) return throw_error(env, "more than 4096 keys");
  void *prefix = NULL;
  size_t prefix_len = 0;
  if (!get_buffer(env, argv[1], &prefix, &prefix_len) || prefix_len > MAX_PREFIX_BYTES) return throw_error(env, "prefix must be a Buffer of at most 64 bytes");

  screen *s = calloc(1, sizeof *s);
  if (!s || (count > 0 && !(s->keys = calloc(count, sizeof *s->keys)))) {
    free(s);
    return throw_error(env, "out of memory");
  }
  memcpy(s->prefix, prefix, prefix_len);
  s->prefix_len = prefix_len;

  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  const char *error = mac ? NULL : "OpenSSL has no HMAC";
  for (uint32_t i = 0; i < count && !error; i++) {
    napi_value entry, digest_value, key_value, chars_value;
    char digest[32];
    size_t digest_len = 0;
    void *key = NULL;
    size_t key_len = 0;
    uint32_t mac_chars = 0;
    napi_get_element(env, argv[0], i, &entry);
    if (napi_get_named_property(env, entry, "digest", &digest_value) != napi_ok ||
        napi_get_value_string_utf8(env, digest_value, digest, sizeof digest, &digest_len) != napi_ok ||
        napi_get_named_property(env, entry, "key", &key_value) != napi_ok || !get_buffer(env, key_value, &key, &key_len) ||
        napi_get_named_property(env, entry, "macChars", &chars_value) != napi_ok ||
        napi_get_value_uint32(env, chars_value, &mac_chars) != napi_ok) {
      error = "each key must be { digest: string, key: Buffer, macChars: number }";
    } else if (key_len > MAX_KEY_BYTES || mac_chars == 0 || mac_chars > MAX_MAC_CHARS) {
      error = "a key is over 1024 bytes or its MAC length is outside 1..88";
    } else if (strcmp(digest, "sha256") == 0) {
      if ((s->keys[i].sha256 = sha256_keyed_new(key, key_len))) {
        s->keys[i].mac_chars = mac_chars;
        s->count = i + 1;
      } else {
        error = "out of memory";
      }
    } else if ((s->keys[i].keyed = keyed_context(mac, digest, key, key_len, &error))) {
      s->keys[i].mac_chars = mac_chars;
      s->count = i + 1;
    }
  }
  EVP_MAC_free(mac);
  if (error) {
    free_screen(s);
    return throw_error(env, error);
  }
  napi_wrap(env, self, s, finalize_screen, NULL, NULL);
  napi_type_tag_object(env, self, &SCREEN_TAG);
  return self;
}

/* HMAC of prefix ‖ message into digest (EVP_MAX_MD_SIZE bytes); its length, or 0 when OpenSSL failed. */
static size_t packet_hmac(const screen *s, const screen_key *k, const unsigned char *message, size_t len, unsigned char *digest) {
  if (k->sha256) {
    SHA256_CTX ctx = k->sha256->inner;
    SHA256_Update(&ctx, s->prefix, s->prefix_len);
    SHA256_Update(&ctx, message, len);
    SHA256_Final(digest, &ctx);
    ctx = k->sha256->outer;
    SHA256_Update(&ctx, digest, SHA256_DIGEST_LENGTH);
    SHA256_Final(digest, &ctx);
    return SHA256_DIGEST_LENGTH;
  }
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(k->keyed);
  if (!ctx) return 0;
  size_t digest_len = 0;
  int ok = EVP_MAC_update(ctx, s->prefix, s->prefix_len) && EVP_MAC_update(ctx, message, len) &&
           EVP_MAC_final(ctx, digest, &digest_len, EVP_MAX_MD_SIZE);
  EVP_MAC_CTX_free(ctx);
  return ok ? digest_len : 0;
}

/* Whether key k made the packet's MAC: 1 yes, 0 no, -1 OpenSSL failed. */
static int key_matches(const screen *s, const screen_key *k, const unsigned char *packet, size_t len) {
  if (len <= k->mac_chars) return 0;
  size_t signed_len = len - k->mac_chars;
  unsigned char digest[EVP_MAX_MD_SIZE];
  size_t digest_len = packet_hmac(s, k, packet, signed_len, digest);
  if (digest_len == 0) return -1;
  unsigned char text[MAX_MAC_CHARS + 1];
  /* Padded base64 of at most 64 bytes fits 89 bytes with its NUL. */
  int text_len = EVP_EncodeBlock(text, digest, (int)digest_len);
  if (text_len < (int)k->mac_chars) return 0;
  return CRYPTO_memcmp(text, packet + signed_len, k->mac_chars) == 0;
}

size_t spa_screen_key_count(const spa_screen *s) {
  return s->count;
}

const unsigned char *spa_screen_prefix(const spa_screen *s, size_t *len) {
  *len = s->prefix_len;
  return s->prefix;
}

int32_t spa_screen_first_match(const spa_screen *s, const unsigned char *packet, size_t len, size_t from) {
  if (len > SPA_SCREEN_MAX_PACKET_BYTES) return -1;
  for (size_t i = from; i < s->count; i++) {
    int m = key_matches(s, &s->keys[i], packet, len);
    if (m < 0) return -2;
    if (m) return (int32_t)i;
  }
  return -1;
}

const spa_screen *spa_screen_of(napi_env env, napi_value value) {
  bool tagged = false;
  void *data = NULL;
  if (napi_check_object_type_tag(env, value, &SCREEN_TAG, &tagged) != napi_ok || !tagged) return NULL;
  if (napi_unwrap(env, value, &data) != napi_ok) return NULL;
  return data;
}

static napi_value screen_first_match(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], self, result;
  napi_get_cb_info(env, info, &argc, argv, &self, NULL);
  const spa_screen *s = spa_screen_of(env, self);
  if (!s) return throw_error(env, "not an HmacScreen");
  void *packet = NULL;
  size_t len = 0;
  uint32_t from = 0;
  if (argc < 2 || !get_buffer(env, argv[0], &packet, &len) || napi_get_value_uint32(env, argv[1], &from) != napi_ok) {
    return throw_error(env, "firstMatch(packet: Buffer, from: number)");
  }
  int32_t found = spa_screen_first_match(s, packet, len, from);
  if (found == -2) return throw_error(env, "OpenSSL failed to compute an HMAC");
  napi_create_int32(env, found, &result);
  return result;
}

void spa_screen_define(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
    {"firstMatch", NULL, screen_first_match, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value constructor;
  napi_define_class(env, "HmacScreen", NAPI_AUTO_LENGTH, screen_new, NULL, 1, methods, &constructor);
  napi_set_named_property(env, exports, "HmacScreen", constructor);
}
