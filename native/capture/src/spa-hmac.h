/*
 * The SPA HMAC screen (spa-hmac.c), shared by its JS class and the capture (capture.c), which
 * checks captured SPA datagrams with it before any JavaScript value is made.
 */
#ifndef KNOCKGATE_SPA_HMAC_H
#define KNOCKGATE_SPA_HMAC_H
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>
#include <stddef.h>

typedef struct spa_screen spa_screen;

/* Longest packet a screen checks (a datagram): longer ones match no key. */
#define SPA_SCREEN_MAX_PACKET_BYTES 1500

/* Keys the screen holds. */
size_t spa_screen_key_count(const spa_screen *s);

/* The bytes hashed before each packet (fwknop's "U2FsdGVkX1"); *len gets their length. */
const unsigned char *spa_screen_prefix(const spa_screen *s, size_t *len);

/* Index of the first key at or after `from` whose MAC the packet carries; -1 none, -2 OpenSSL failed. */
int32_t spa_screen_first_match(const spa_screen *s, const unsigned char *packet, size_t len, size_t from);

/* The screen an HmacScreen object holds; NULL (nothing thrown) for any other value. */
const spa_screen *spa_screen_of(napi_env env, napi_value value);

/* Adds the HmacScreen class to `exports`. */
void spa_screen_define(napi_env env, napi_value exports);

#endif
