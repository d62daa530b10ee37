/*
 * The capture's SPA screen (capture-screen.c): which captured frames are SPA datagrams that no
 * door's HMAC key made, decided in C before any JavaScript value is made for them.
 */
#ifndef KNOCKGATE_CAPTURE_SCREEN_H
#define KNOCKGATE_CAPTURE_SCREEN_H
#include "spa-hmac.h"
#include <stdint.h>

typedef struct capture_screen capture_screen;

/* What the capture does with a frame: hand it to JavaScript, or count it as refused. */
enum capture_verdict { VERDICT_PASS = 0, VERDICT_BAD_HMAC = 1 };

/*
 * Reads screenSpa(port, screen, doors)'s arguments: the UDP port, an HmacScreen, and for each of
 * its keys { minLength, maxLength, expiresAt } (the packet lengths that key's door tries; the
 * epoch second past which it is expired, or -1). NULL with a JS error thrown when they are wrong.
 */
capture_screen *capture_screen_new(napi_env env, napi_value port, napi_value screen, napi_value doors);
void capture_screen_free(napi_env env, capture_screen *cs);

/*
 * VERDICT_BAD_HMAC only when JavaScript would refuse the frame as a bad HMAC: a well-formed,
 * whole UDP datagram to the port, its payload base64 text without the prefix, a length some door
 * not expired at `now_s` tries, and no key's MAC. Anything else (or anything this parser does not
 * read, such as IPv6 extension headers) passes, and JavaScript decides as without a screen.
 */
enum capture_verdict capture_screen_verdict(const capture_screen *cs, int link_type, const uint8_t *frame, uint32_t length, int64_t now_s);

#endif
