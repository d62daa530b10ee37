/*
 * knockgate's libpcap capture, as one JS class:
 *
 *   new Capture(device, filter, snaplen, bufferBytes, batch, onBatch)
 *     .linkType / .linkTypeName, .stats(), .setFilter(filter), .close()
 *
 * Why our own: a binding that asks for a 65,535-byte snaplen in immediate mode gets one 64 KiB
 * ring slot per packet from libpcap on any interface with segmentation offload (veth, most NICs),
 * so a 16 MiB ring holds ~256 packets. Here the snaplen is the caller's (a few KiB), so the same
 * ring holds thousands, and delivery stays immediate.
 *
 * Delivery: a libuv poll on pcap's selectable fd; each readiness reads at most one batch (the
 * packets that fit the caller's buffer, at most MAX_BATCH_PACKETS) and returns to the event loop,
 * which polls again while the ring still holds packets (level-triggered). Each record in the batch
 * buffer is RECORD_HEADER_BYTES of little-endian uint32 (seconds, microseconds, captured length,
 * length on the wire, verdict) followed by the captured bytes.
 *
 * With .screenSpa(port, screen, doors) the capture checks each datagram to that UDP port against
 * the SPA doors' HMAC keys (capture-screen.c) as it reads it: one no key made is counted, not
 * copied, except MAX_REFUSED_SAMPLES_PER_SECOND of them, handed up with verdict 1 so the service
 * can log their sources; onBatch's fourth argument is the count of the rest, handed up with the
 * next batch or at most REFUSED_FLUSH_MS later (a batch of no records then). A readiness reads
 * until the batch is full, the ring is empty, or MAX_PACKETS_PER_TURN.
 *
 * Under load a ring is read every MODERATED_PAUSE_MS rather than at each packet, as a NIC driver
 * polls under NAPI: at each readiness a process wakes, and at a flood's rate those wakeups were
 * most of the CPU a packet cost (perf: finish_task_switch ~35 % of the samples), one packet
 * each. A ring enters it after more than BUSY_READS_PER_WINDOW readinesses in BUSY_WINDOW_MS
 * (above ~2,000 a second; a knock sequence is a few) and leaves it at the first pause that
 * gathered fewer than MODERATED_MIN_PACKETS; a packet then waits at most about a pause.
 *
 * With threads > 0 (a seventh argument; only for rings whose packets are each a whole message, as
 * SPA datagrams are: order across threads is not kept) the capture opens that many handles, joined
 * with PACKET_FANOUT_LB when more than one, and reads each in a thread of its own (capture-worker),
 * screen included, so a bad-HMAC flood uses more than the event loop's core. Records handed up
 * wait in a queue of QUEUE_BATCHES batches; one that finds it full is counted (stats().dropped,
 * queueDropped) and, when it is a refused sample, in the refused count: nothing is lost silently.
 * A thread wakes the event loop at once for records, and for a refused count alone within
 * COUNT_WAKE_MS (then the loop hands it up at once: no REFUSED_FLUSH_MS wait on top).
 */
#define _GNU_SOURCE /* pthread_setname_np, the rwlock kind */
#define NAPI_VERSION 8
#include "capture-screen.h"
#include <errno.h>
#include <linux/if_packet.h>
#include <node_api.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

/* Five uint32 fields before each packet's bytes in a batch. */
#define RECORD_HEADER_BYTES 20
/* Below this not even an Ethernet + IPv6 + TCP header fits; libpcap's own ceiling above. */
#define MIN_SNAPLEN_BYTES 128
#define MAX_SNAPLEN_BYTES 262144
/* libpcap refuses rings below a page; the upper bound keeps a typo from pinning a gigabyte. */
#define MIN_BUFFER_BYTES 4096
#define MAX_BUFFER_BYTES (1024 * 1024 * 1024)
/* Bounds the JS work done per event-loop turn, whatever buffer the caller passes. */
#define MAX_BATCH_PACKETS 1024
/*
 * Refused datagrams handed up a second with their bytes, so their sources reach the log and the
 * recent-refusals ring: above the SPA service's 50 refusal lines a second, and a flood of them
 * makes no more JavaScript objects than that.
 */
#define MAX_REFUSED_SAMPLES_PER_SECOND 64
/* How long a count of refused packets waits for a batch to ride with before it goes up alone. */
#define REFUSED_FLUSH_MS 100
/* Load moderation (see above); a pause of 1 ms holds ~135 packets of a 135,000 a second flood, a ring thousands. */
#define BUSY_WINDOW_MS 10
#define BUSY_READS_PER_WINDOW 20
#define MODERATED_PAUSE_MS 1
#define MODERATED_MIN_PACKETS 2
/*
 * Packets read per readiness at most, refused ones included: at ~1-1.5 us each, a turn takes about
 * what a batch of 64 knocks takes in JavaScript, so the event loop serves every ring alike (at
 * 4,096 a flooded SPA ring held the loop ~6 ms a turn and another ring's backlog overflowed).
 */
#define MAX_PACKETS_PER_TURN 256
/* Device names are IFNAMSIZ on Linux; filters are short expressions built by the sensor. */
#define MAX_DEVICE_CHARS 256
#define MAX_FILTER_CHARS 65536
#define MAX_MESSAGE_CHARS (PCAP_ERRBUF_SIZE + 128)
/* Reader threads of one capture at most; the daemon asks for min(2, cores). */
#define MAX_CAPTURE_THREADS 8
/*
 * The threads' queue holds this many batches (4 x 64 records of 1,940 bytes for the SPA ring:
 * ~0.5 MiB); the event loop takes at most this many a wakeup too, so it serves other rings between.
 */
#define QUEUE_BATCHES 4
/* A thread's refused count (no records with it) reaches the event loop within this; 100 wakeups a second a thread at most for counts. */
#define COUNT_WAKE_MS 10

/* The refused samples handed up in one second. */
typedef struct {
  int64_t second;
  int samples;
} sample_budget;

typedef struct {
  uint64_t window_start; /* ns of the moderation window's start */
  int window_reads;
  int moderated;
} moderation;

struct capture;

typedef struct {
  struct capture *owner;
  pcap_t *pcap;
  pthread_t thread;
  int wake_fd; /* an eventfd: close() wakes the thread out of poll() */
  int started;
  moderation load;
  sample_budget samples;
  int64_t now_s;
  uint32_t refused; /* refused in this turn beyond the samples */
  uint64_t count_since; /* ns since a refused count waits for the event loop; 0: none */
  int queued;       /* records queued in this turn */
  /* Keeps the next thread's counters, written at every packet, off this one's cache line. */
  char cache_line_apart[64];
} capture_worker;

typedef struct capture {
  napi_env env;
  pcap_t *pcap;
  uv_poll_t poll;
  uv_timer_t flush; /* hands up a refused count no batch took */
  uv_timer_t pause; /* restarts the poll after a moderated pause */
  moderation load;
  napi_ref self;      /* strong while open: an open capture is not collected, like a socket */
  napi_ref on_batch;
  napi_ref batch_ref; /* keeps the caller's batch buffer alive while we write into it */
  napi_async_context async_context;
  uint8_t *batch;
  size_t batch_bytes;
  int snaplen;
  int batch_packets;
  int link_type;
  capture_screen *screen; /* NULL: every packet is handed up */
  int64_t now_s;          /* the turn's clock, for doors' expiry */
  size_t fill;
  int count;
  sample_budget samples;
  /* Refused and not handed up yet; a flush every REFUSED_FLUSH_MS bounds it by the packets a ring takes in that time. */
  uint32_t refused;
  int closed;
  int handles_open; /* the poll or the async, and the two timers, until libuv has closed them */
  int finalized;
  /* Threaded reading (threads > 0); everything below is unused otherwise. */
  int threads;
  capture_worker workers[MAX_CAPTURE_THREADS];
  uv_async_t async;         /* a worker queued records or refused packets */
  atomic_int stopping;
  /* Held shared by a worker's turn, exclusively to swap the screen or touch the handles. */
  pthread_rwlock_t handles_lock;
  pthread_mutex_t queue_lock; /* the queue and its refused count */
  uint8_t *queue;
  size_t queue_bytes;
  size_t queue_fill;
  int queue_count; /* records in the queue, at most QUEUE_BATCHES x batch_packets */
  uint32_t queue_refused;
  uint32_t queue_dropped;
  atomic_int failing; /* a worker's read failed and it is writing `failure` */
  atomic_int failed;  /* ... and has written it */
  int failure_reported;
  char failure[PCAP_ERRBUF_SIZE];
} capture;

static void throw_message(napi_env env, const char *what, const char *detail) {
  char message[2 * MAX_MESSAGE_CHARS];
  snprintf(message, sizeof message, "%s: %s", what, detail);
  napi_throw_error(env, NULL, message);
}

static int read_string(napi_env env, napi_value value, char *out, size_t size, const char *what) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) {
    throw_message(env, what, "must be a string");
    return 0;
  }
  if (length + 1 > size) {
    throw_message(env, what, "is too long");
    return 0;
  }
  napi_get_value_string_utf8(env, value, out, size, &length);
  if (strlen(out) != length) {
    throw_message(env, what, "contains a NUL character");
    return 0;
  }
  return 1;
}

static int read_int(napi_env env, napi_value value, int64_t min, int64_t max, int64_t *out, const char *what) {
  napi_valuetype type;
  double number = 0;
  napi_typeof(env, value, &type);
  /* The range test comes first and is written to fail for NaN, so the integer cast never sees an out-of-range value. */
  if (type != napi_number || napi_get_value_double(env, value, &number) != napi_ok || !(number >= (double)min && number <= (double)max) ||
      number != (double)(int64_t)number) {
    char detail[96];
    snprintf(detail, sizeof detail, "must be an integer in %lld..%lld", (long long)min, (long long)max);
    throw_message(env, what, detail);
    return 0;
  }
  *out = (int64_t)number;
  return 1;
}

static int apply_filter(napi_env env, pcap_t *pcap, const char *filter) {
  struct bpf_program program;
  if (pcap_compile(pcap, &program, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
    throw_message(env, "cannot compile the capture filter", pcap_geterr(pcap));
    return 0;
  }
  int set = pcap_setfilter(pcap, &program);
  pcap_freecode(&program);
  if (set != 0) {
    throw_message(env, "cannot set the capture filter", pcap_geterr(pcap));
    return 0;
  }
  return 1;
}

static void write_le32(uint8_t *at, uint32_t value) {
  at[0] = (uint8_t)value;
  at[1] = (uint8_t)(value >> 8);
  at[2] = (uint8_t)(value >> 16);
  at[3] = (uint8_t)(value >> 24);
}

/* Whether a refused packet goes up as a sample this second, `per_second` of them at most. */
static int take_sample(sample_budget *b, int per_second, int64_t now_s) {
  if (b->second != now_s) {
    b->second = now_s;
    b->samples = 0;
  }
  if (b->samples >= per_second) return 0;
  b->samples++;
  return 1;
}

static size_t write_record(uint8_t *at, const struct pcap_pkthdr *header, uint32_t captured, enum capture_verdict verdict, const u_char *bytes) {
  write_le32(at, (uint32_t)header->ts.tv_sec);
  write_le32(at + 4, (uint32_t)header->ts.tv_usec);
  write_le32(at + 8, captured);
  write_le32(at + 12, header->len);
  write_le32(at + 16, (uint32_t)verdict);
  memcpy(at + RECORD_HEADER_BYTES, bytes, captured);
  return RECORD_HEADER_BYTES + captured;
}

static enum capture_verdict verdict_of(const capture *c, const struct pcap_pkthdr *header, uint32_t captured, const u_char *bytes, int64_t now_s) {
  /* A frame cut short is JavaScript's to report. */
  if (c->screen == NULL || captured != header->len) return VERDICT_PASS;
  return capture_screen_verdict(c->screen, c->link_type, bytes, captured, now_s);
}

static uint32_t le32_at(const uint8_t *at) {
  return (uint32_t)at[0] | (uint32_t)at[1] << 8 | (uint32_t)at[2] << 16 | (uint32_t)at[3] << 24;
}

static void append_packet(u_char *user, const struct pcap_pkthdr *header, const u_char *bytes) {
  capture *c = (capture *)user;
  uint32_t captured = header->caplen > (uint32_t)c->snaplen ? (uint32_t)c->snaplen : header->caplen;
  enum capture_verdict verdict = verdict_of(c, header, captured, bytes, c->now_s);
  if (verdict != VERDICT_PASS && !take_sample(&c->samples, MAX_REFUSED_SAMPLES_PER_SECOND, c->now_s)) {
    if (c->refused < UINT32_MAX) c->refused++;
    return;
  }
  /* The dispatch count already guarantees room; this only guards against a libpcap surprise. */
  if (c->fill + RECORD_HEADER_BYTES + captured > c->batch_bytes) return;
  c->fill += write_record(c->batch + c->fill, header, captured, verdict, bytes);
  c->count++;
}

/* A worker's packet: screened under the handles lock its turn holds, queued for the event loop. */
static void queue_packet(u_char *user, const struct pcap_pkthdr *header, const u_char *bytes) {
  capture_worker *w = (capture_worker *)user;
  capture *c = w->owner;
  uint32_t captured = header->caplen > (uint32_t)c->snaplen ? (uint32_t)c->snaplen : header->caplen;
  enum capture_verdict verdict = verdict_of(c, header, captured, bytes, w->now_s);
  /* Each thread its share of the samples, so a refused packet past them takes no lock. */
  if (verdict != VERDICT_PASS && !take_sample(&w->samples, MAX_REFUSED_SAMPLES_PER_SECOND / c->threads, w->now_s)) {
    if (w->refused < UINT32_MAX) w->refused++;
    return;
  }
  pthread_mutex_lock(&c->queue_lock);
  if (c->queue_count < QUEUE_BATCHES * c->batch_packets && c->queue_fill + RECORD_HEADER_BYTES + captured <= c->queue_bytes) {
    c->queue_fill += write_record(c->queue + c->queue_fill, header, captured, verdict, bytes);
    c->queue_count++;
    w->queued++;
  } else if (verdict != VERDICT_PASS) {
    /* A refused sample with no room still counts as refused, once. */
    if (w->refused < UINT32_MAX) w->refused++;
  } else if (c->queue_dropped < UINT32_MAX) {
    c->queue_dropped++;
  }
  pthread_mutex_unlock(&c->queue_lock);
}

static void free_if_done(capture *c) {
  if (c->finalized && c->handles_open == 0) free(c);
}

/* The workers' handles and queue, once their threads are joined. */
static void release_workers(capture *c) {
  for (int i = 0; i < c->threads; i++) {
    capture_worker *w = &c->workers[i];
    if (w->pcap != NULL) pcap_close(w->pcap);
    if (w->wake_fd >= 0) close(w->wake_fd);
    w->pcap = NULL;
    w->wake_fd = -1;
  }
  if (c->threads > 0) {
    pthread_rwlock_destroy(&c->handles_lock);
    pthread_mutex_destroy(&c->queue_lock);
  }
  free(c->queue);
  c->queue = NULL;
}

static void on_handle_closed(uv_handle_t *handle) {
  capture *c = (capture *)handle->data;
  if (--c->handles_open > 0) return;
  if (c->pcap != NULL) pcap_close(c->pcap);
  c->pcap = NULL;
  release_workers(c);
  free_if_done(c);
}

/* Stops and joins the reader threads; idempotent. */
static void stop_workers(capture *c) {
  atomic_store(&c->stopping, 1);
  for (int i = 0; i < c->threads; i++) {
    capture_worker *w = &c->workers[i];
    if (!w->started) continue;
    uint64_t one = 1;
    /* An eventfd write of 8 bytes cannot fall short; a failure would leave the thread in poll(), so say so. */
    if (write(w->wake_fd, &one, sizeof one) != (ssize_t)sizeof one) perror("knockgate capture: waking a reader thread");
    pthread_join(w->thread, NULL);
    w->started = 0;
  }
}

static void call_on_batch(capture *c, napi_value error);

/*
 * The event loop's side of the queue: at most QUEUE_BATCHES batches a wakeup (the queue's size),
 * each handed up as a batch read from the ring would be, with the refused count the workers added.
 */
static void drain_queue(capture *c) {
  napi_handle_scope scope;
  napi_open_handle_scope(c->env, &scope);
  napi_value error;
  napi_get_null(c->env, &error);
  if (atomic_load(&c->failed) && !c->failure_reported) {
    c->failure_reported = 1;
    napi_value message;
    napi_create_string_utf8(c->env, c->failure, NAPI_AUTO_LENGTH, &message);
    napi_value failure;
    napi_create_error(c->env, NULL, message, &failure);
    call_on_batch(c, failure);
  }
  int more = 0;
  for (int b = 0; b < QUEUE_BATCHES && !c->closed; b++) {
    size_t at = 0;
    int count = 0;
    pthread_mutex_lock(&c->queue_lock);
    while (at < c->queue_fill && count < c->batch_packets) {
      size_t length = RECORD_HEADER_BYTES + le32_at(c->queue + at + 8);
      if (at + length > c->batch_bytes) break;
      at += length;
      count++;
    }
    memcpy(c->batch, c->queue, at);
    memmove(c->queue, c->queue + at, c->queue_fill - at);
    c->queue_fill -= at;
    c->queue_count -= count;
    uint32_t refused = c->queue_refused;
    c->queue_refused = 0;
    more = c->queue_fill > 0;
    pthread_mutex_unlock(&c->queue_lock);
    c->refused = refused > UINT32_MAX - c->refused ? UINT32_MAX : c->refused + refused;
    c->fill = at;
    c->count = count;
    /* A count goes up with the wakeup its thread gave: at most one a thread turn, as a batch would. */
    if (count > 0 || c->refused > 0) call_on_batch(c, error);
    if (!more) break;
  }
  /* What is left waits for the next loop iteration, after the other rings. */
  if (more && !c->closed) uv_async_send(&c->async);
  napi_close_handle_scope(c->env, scope);
}

static void on_async(uv_async_t *handle) {
  capture *c = (capture *)handle->data;
  if (!c->closed) drain_queue(c);
}

/* Releases everything JS-visible; the pcap handle goes once libuv has let go of its fd. */
static void close_capture(napi_env env, capture *c) {
  if (c->closed) return;
  if (c->threads > 0) {
    stop_workers(c);
    /* What the threads queued goes up as it would have: passing packets, samples and counts. */
    drain_queue(c);
    if (c->closed) return;
  }
  if (c->refused > 0) {
    /* The count no batch took yet goes up now, or a reload that replaces this ring would lose it. */
    napi_value error;
    napi_get_null(env, &error);
    c->fill = 0;
    c->count = 0;
    call_on_batch(c, error);
    /* The handler may have closed it already. */
    if (c->closed) return;
  }
  c->closed = 1;
  if (c->threads > 0) {
    uv_close((uv_handle_t *)&c->async, on_handle_closed);
  } else {
    uv_poll_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, on_handle_closed);
  }
  uv_close((uv_handle_t *)&c->flush, on_handle_closed);
  uv_close((uv_handle_t *)&c->pause, on_handle_closed);
  napi_delete_reference(env, c->on_batch);
  napi_delete_reference(env, c->batch_ref);
  napi_async_destroy(env, c->async_context);
  napi_delete_reference(env, c->self);
  c->on_batch = c->batch_ref = c->self = NULL;
  c->batch = NULL;
  capture_screen_free(env, c->screen);
  c->screen = NULL;
}

static void call_on_batch(capture *c, napi_value error) {
  napi_env env = c->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value callback, receiver, result, args[4];
  napi_get_reference_value(env, c->on_batch, &callback);
  napi_get_reference_value(env, c->self, &receiver);
  args[0] = error;
  napi_create_int32(env, c->count, &args[1]);
  napi_create_double(env, (double)c->fill, &args[2]);
  napi_create_uint32(env, c->refused, &args[3]);
  c->refused = 0;
  uv_timer_stop(&c->flush);
  /* make_callback, not call_function: promise jobs and nextTicks the handler queues run now. */
  napi_make_callback(env, c->async_context, receiver, callback, 4, args, &result);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    /* Nothing in JS is below us to catch it: hand it to process 'uncaughtException' like any callback's. */
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);
  }
  napi_close_handle_scope(env, scope);
}

static void on_flush(uv_timer_t *timer) {
  capture *c = (capture *)timer->data;
  if (c->closed || c->refused == 0) return;
  napi_handle_scope scope;
  napi_open_handle_scope(c->env, &scope);
  napi_value error;
  napi_get_null(c->env, &error);
  c->fill = 0;
  c->count = 0;
  call_on_batch(c, error);
  napi_close_handle_scope(c->env, scope);
}

static void on_readable(uv_poll_t *handle, int status, int events);

static void on_pause_end(uv_timer_t *timer) {
  capture *c = (capture *)timer->data;
  if (!c->closed) uv_poll_start(&c->poll, UV_READABLE, on_readable);
}

/*
 * After a readiness that read `turn` packets: whether the ring is busy enough to pause before the
 * next read. Never while the ring may hold more (`drained` false): it is read again at once then,
 * so a moderated ring is read as fast as its batches are taken.
 */
static int moderation_pauses(moderation *m, uint64_t now_ns, int turn, int drained) {
  if (now_ns - m->window_start >= (uint64_t)BUSY_WINDOW_MS * 1000000) {
    m->window_start = now_ns;
    m->window_reads = 0;
  }
  m->window_reads++;
  m->moderated = m->moderated ? turn >= MODERATED_MIN_PACKETS : m->window_reads > BUSY_READS_PER_WINDOW;
  return m->moderated && drained;
}

static uint64_t monotonic_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/* One reader thread: its handle's readiness (or a moderated pause), one turn, the event loop told. */
static void *worker_main(void *arg) {
  capture_worker *w = (capture_worker *)arg;
  capture *c = w->owner;
  struct pollfd fds[2] = {{pcap_get_selectable_fd(w->pcap), POLLIN, 0}, {w->wake_fd, POLLIN, 0}};
  int pause = 0, timeout = -1;
  /* Named, so `ps -T` and /proc/<pid>/task show what the daemon's threads are. */
  pthread_setname_np(pthread_self(), "knockgate-cap");
  while (!atomic_load(&c->stopping)) {
    if (pause) {
      struct timespec pause_time = {0, MODERATED_PAUSE_MS * 1000000L};
      nanosleep(&pause_time, NULL);
    } else if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
      break;
    }
    if (atomic_load(&c->stopping)) break;
    int read = 0, turn = 0, drained = 0;
    w->refused = 0;
    w->queued = 0;
    pthread_rwlock_rdlock(&c->handles_lock);
    w->now_s = (int64_t)time(NULL);
    for (int total = 0; total < MAX_PACKETS_PER_TURN;) {
      int ask = MAX_PACKETS_PER_TURN - total;
      read = pcap_dispatch(w->pcap, ask, queue_packet, (u_char *)w);
      if (read > 0) turn += read;
      if (read < ask) {
        drained = 1;
        break;
      }
      total += read;
    }
    int first = 0;
    /* The first thread to fail writes the message; `failed` tells the loop once it is whole. */
    if (read == PCAP_ERROR && atomic_compare_exchange_strong(&c->failing, &first, 1)) {
      snprintf(c->failure, sizeof c->failure, "%s", pcap_geterr(w->pcap));
      atomic_store(&c->failed, 1);
    }
    pthread_rwlock_unlock(&c->handles_lock);
    if (w->refused > 0) {
      pthread_mutex_lock(&c->queue_lock);
      c->queue_refused = w->refused > UINT32_MAX - c->queue_refused ? UINT32_MAX : c->queue_refused + w->refused;
      pthread_mutex_unlock(&c->queue_lock);
    }
    uint64_t now = monotonic_ns();
    if (w->refused > 0 && w->count_since == 0) w->count_since = now;
    /* Records wake the loop at once; a count alone waits up to COUNT_WAKE_MS for company (a wakeup of the loop costs more than the count). */
    int count_due = w->count_since != 0 && now - w->count_since >= (uint64_t)COUNT_WAKE_MS * 1000000;
    if (w->queued > 0 || count_due || read == PCAP_ERROR) {
      uv_async_send(&c->async);
      w->count_since = 0;
    }
    if (read == PCAP_ERROR) break;
    pause = moderation_pauses(&w->load, now, turn, drained);
    /* A count still waiting needs the thread back by its time, even if no packet comes. */
    timeout = w->count_since == 0 ? -1 : COUNT_WAKE_MS;
  }
  return NULL;
}

static void moderate(capture *c, int turn, int drained) {
  if (c->closed || !moderation_pauses(&c->load, uv_hrtime(), turn, drained)) return;
  uv_poll_stop(&c->poll);
  uv_timer_start(&c->pause, on_pause_end, MODERATED_PAUSE_MS, 0);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  capture *c = (capture *)handle->data;
  if (c->closed) return;
  c->fill = 0;
  c->count = 0;
  napi_handle_scope scope;
  napi_open_handle_scope(c->env, &scope);
  napi_value error;
  napi_get_null(c->env, &error);
  if (status < 0) {
    napi_value message;
    napi_create_string_utf8(c->env, uv_strerror(status), NAPI_AUTO_LENGTH, &message);
    napi_create_error(c->env, NULL, message, &error);
    uv_poll_stop(&c->poll);
    call_on_batch(c, error);
  } else {
    int read = 0, turn = 0, drained = 0;
    if (c->screen == NULL) {
      read = pcap_dispatch(c->pcap, c->batch_packets, append_packet, (u_char *)c);
      turn = read > 0 ? read : 0;
      drained = read < c->batch_packets;
    } else {
      c->now_s = (int64_t)time(NULL);
      /* Refused packets take no room, so read on while the batch has some (each dispatch asks for no more than fits). */
      for (int total = 0; c->count < c->batch_packets && total < MAX_PACKETS_PER_TURN;) {
        int room = c->batch_packets - c->count;
        int ask = room < MAX_PACKETS_PER_TURN - total ? room : MAX_PACKETS_PER_TURN - total;
        read = pcap_dispatch(c->pcap, ask, append_packet, (u_char *)c);
        if (read > 0) turn += read;
        /* Fewer than asked: the ring is empty now (asking again would cost libpcap a poll to learn it). */
        if (read < ask) {
          drained = 1;
          break;
        }
        total += read;
      }
    }
    if (read == PCAP_ERROR) {
      napi_value message;
      napi_create_string_utf8(c->env, pcap_geterr(c->pcap), NAPI_AUTO_LENGTH, &message);
      napi_create_error(c->env, NULL, message, &error);
      uv_poll_stop(&c->poll);
      call_on_batch(c, error);
    } else {
      if (c->count > 0) call_on_batch(c, error);
      else if (c->refused > 0 && !uv_is_active((uv_handle_t *)&c->flush)) uv_timer_start(&c->flush, on_flush, REFUSED_FLUSH_MS, 0);
      moderate(c, turn, drained);
    }
  }
  napi_close_handle_scope(c->env, scope);
}

static capture *unwrap_open(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *data = NULL;
  napi_get_cb_info(env, info, argc, argv, &self, NULL);
  if (napi_unwrap(env, self, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "not a Capture");
    return NULL;
  }
  return (capture *)data;
}

/* unwrap_open for the methods a closed capture cannot serve (all but close). */
static capture *unwrap_live(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  capture *c = unwrap_open(env, info, argc, argv);
  if (c != NULL && c->closed) {
    napi_throw_error(env, NULL, "capture is closed");
    return NULL;
  }
  return c;
}

static void finalize_capture(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  capture *c = (capture *)data;
  c->finalized = 1;
  free_if_done(c);
}

/* One activated, filtered, non-blocking handle; NULL with a JS error thrown. */
static pcap_t *open_pcap(napi_env env, const char *device, const char *filter, int snaplen, int buffer_bytes) {
  char errbuf[PCAP_ERRBUF_SIZE] = "";
  pcap_t *pcap = pcap_create(device, errbuf);
  if (pcap == NULL) {
    throw_message(env, "cannot create a capture", errbuf);
    return NULL;
  }
  /* Not promiscuous: knocks are addressed to this host; immediate: a knock waits for nothing. */
  if (pcap_set_snaplen(pcap, snaplen) != 0 || pcap_set_promisc(pcap, 0) != 0 || pcap_set_immediate_mode(pcap, 1) != 0 ||
      pcap_set_buffer_size(pcap, buffer_bytes) != 0) {
    throw_message(env, "cannot configure the capture", pcap_geterr(pcap));
    goto fail;
  }
  int activated = pcap_activate(pcap);
  if (activated < 0) {
    const char *detail = pcap_geterr(pcap);
    char message[MAX_MESSAGE_CHARS];
    const char *status = pcap_statustostr(activated);
    /* libpcap sometimes repeats the status as its message; say it once. */
    int same = detail[0] == '\0' || strcmp(detail, status) == 0;
    snprintf(message, sizeof message, "%s%s%s", status, same ? "" : ": ", same ? "" : detail);
    throw_message(env, "cannot start the capture", message);
    goto fail;
  }
  if (!apply_filter(env, pcap, filter)) goto fail;
  if (pcap_setnonblock(pcap, 1, errbuf) != 0) {
    throw_message(env, "cannot make the capture non-blocking", errbuf);
    goto fail;
  }
  if (pcap_get_selectable_fd(pcap) < 0) {
    throw_message(env, "cannot poll the capture", "libpcap gives no selectable descriptor for this device");
    goto fail;
  }
  return pcap;
fail:
  pcap_close(pcap);
  return NULL;
}

/*
 * Joins the handle's socket to the capture's fanout group, round-robin (PACKET_FANOUT_LB: a flood
 * from one source is spread too, which a flow hash would not do); the first makes the group
 * under an id the kernel picks, so no other capture on the host can share it by chance.
 */
static int join_fanout(napi_env env, pcap_t *pcap, int *group) {
  int fd = pcap_fileno(pcap);
  int arg = *group < 0 ? (PACKET_FANOUT_LB | PACKET_FANOUT_FLAG_UNIQUEID) << 16 : *group | PACKET_FANOUT_LB << 16;
  if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0) {
    throw_message(env, "cannot join the capture threads' fanout group", strerror(errno));
    return 0;
  }
  if (*group < 0) {
    socklen_t length = sizeof arg;
    if (getsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, &length) != 0) {
      throw_message(env, "cannot read the capture threads' fanout group", strerror(errno));
      return 0;
    }
    *group = arg & 0xffff;
  }
  return 1;
}

/*
 * A kernel filter that takes no packet (one instruction: return 0), which libpcap's compiler
 * will not build from an expression; libpcap also filters what its ring held before with it.
 */
static int match_nothing(napi_env env, pcap_t *pcap) {
  struct bpf_insn reject = BPF_STMT(BPF_RET | BPF_K, 0);
  struct bpf_program program = {1, &reject};
  if (pcap_setfilter(pcap, &program) != 0) {
    throw_message(env, "cannot set the capture filter", pcap_geterr(pcap));
    return 0;
  }
  return 1;
}

/* The reader threads' handles, one fanout group over them. */
static int open_workers(napi_env env, capture *c, const char *device, const char *filter, int snaplen, int64_t buffer_bytes) {
  int64_t share = buffer_bytes / c->threads;
  int per_handle = share < MIN_BUFFER_BYTES ? MIN_BUFFER_BYTES : (int)share;
  int group = -1;
  for (int i = 0; i < c->threads; i++) {
    capture_worker *w = &c->workers[i];
    w->owner = c;
    w->pcap = open_pcap(env, device, filter, snaplen, per_handle);
    if (w->pcap == NULL) return 0;
    /* Until it has joined, a member takes nothing in, or it would also get packets the group gets. */
    if (i > 0 && !match_nothing(env, w->pcap)) return 0;
    if (c->threads > 1 && !join_fanout(env, w->pcap, &group)) return 0;
    if (i > 0 && !apply_filter(env, w->pcap, filter)) return 0;
    w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->wake_fd < 0) {
      throw_message(env, "cannot create a capture thread's wakeup", strerror(errno));
      return 0;
    }
  }
  return 1;
}

static int start_workers(napi_env env, capture *c) {
  for (int i = 0; i < c->threads; i++) {
    int failed = pthread_create(&c->workers[i].thread, NULL, worker_main, &c->workers[i]);
    if (failed != 0) {
      throw_message(env, "cannot start a capture thread", strerror(failed));
      return 0;
    }
    c->workers[i].started = 1;
  }
  return 1;
}

static napi_value capture_new(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7], self;
  napi_get_cb_info(env, info, &argc, argv, &self, NULL);
  if (argc < 6) {
    napi_throw_type_error(env, NULL, "Capture(device, filter, snaplen, bufferBytes, batch, onBatch[, threads])");
    return NULL;
  }
  char device[MAX_DEVICE_CHARS];
  char *filter = malloc(MAX_FILTER_CHARS);
  int64_t snaplen, buffer_bytes, threads = 0;
  napi_valuetype callback_type, threads_type = napi_undefined;
  bool is_buffer = false;
  void *batch = NULL;
  size_t batch_bytes = 0;
  capture *c = NULL;
  pcap_t *pcap = NULL;
  if (filter == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (argc >= 7) napi_typeof(env, argv[6], &threads_type);
  if (!read_string(env, argv[0], device, sizeof device, "device") || !read_string(env, argv[1], filter, MAX_FILTER_CHARS, "filter") ||
      !read_int(env, argv[2], MIN_SNAPLEN_BYTES, MAX_SNAPLEN_BYTES, &snaplen, "snaplen") ||
      !read_int(env, argv[3], MIN_BUFFER_BYTES, MAX_BUFFER_BYTES, &buffer_bytes, "bufferBytes") ||
      (threads_type != napi_undefined && !read_int(env, argv[6], 0, MAX_CAPTURE_THREADS, &threads, "threads")))
    goto fail;
  napi_is_buffer(env, argv[4], &is_buffer);
  if (!is_buffer || napi_get_buffer_info(env, argv[4], &batch, &batch_bytes) != napi_ok ||
      batch_bytes < (size_t)(RECORD_HEADER_BYTES + snaplen)) {
    throw_message(env, "batch", "must be a Buffer holding at least one record of the snaplen");
    goto fail;
  }
  napi_typeof(env, argv[5], &callback_type);
  if (callback_type != napi_function) {
    throw_message(env, "onBatch", "must be a function");
    goto fail;
  }

  c = calloc(1, sizeof *c);
  if (c == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    goto fail;
  }
  c->threads = (int)threads;
  for (int i = 0; i < MAX_CAPTURE_THREADS; i++) c->workers[i].wake_fd = -1;
  c->snaplen = (int)snaplen;
  size_t fit = batch_bytes / (size_t)(RECORD_HEADER_BYTES + snaplen);
  c->batch_packets = fit > MAX_BATCH_PACKETS ? MAX_BATCH_PACKETS : (int)fit;
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  if (c->threads == 0) {
    pcap = open_pcap(env, device, filter, (int)snaplen, (int)buffer_bytes);
    if (pcap == NULL) goto fail;
    if (uv_poll_init(loop, &c->poll, pcap_get_selectable_fd(pcap)) != 0) {
      throw_message(env, "cannot poll the capture", "uv_poll_init failed");
      goto fail;
    }
    c->pcap = pcap;
    c->link_type = pcap_datalink(pcap);
  } else {
    pthread_rwlockattr_t attributes;
    pthread_rwlockattr_init(&attributes);
    /* A reload's screen swap must not wait behind threads that take turns holding it shared. */
    pthread_rwlockattr_setkind_np(&attributes, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&c->handles_lock, &attributes);
    pthread_rwlockattr_destroy(&attributes);
    pthread_mutex_init(&c->queue_lock, NULL);
    c->queue_bytes = (size_t)QUEUE_BATCHES * (size_t)c->batch_packets * (size_t)(RECORD_HEADER_BYTES + snaplen);
    c->queue = malloc(c->queue_bytes);
    if (c->queue == NULL) {
      napi_throw_error(env, NULL, "out of memory");
      goto fail;
    }
    if (!open_workers(env, c, device, filter, (int)snaplen, buffer_bytes)) goto fail;
    uv_async_init(loop, &c->async, on_async);
    c->async.data = c;
    c->link_type = pcap_datalink(c->workers[0].pcap);
  }
  uv_timer_init(loop, &c->flush);
  uv_timer_init(loop, &c->pause);
  c->flush.data = c->pause.data = c;
  c->handles_open = 3;
  c->env = env;
  c->poll.data = c;
  c->batch = batch;
  c->batch_bytes = batch_bytes;
  napi_value resource_name;
  napi_create_string_utf8(env, "knockgate-capture", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, self, resource_name, &c->async_context);
  napi_create_reference(env, argv[5], 1, &c->on_batch);
  napi_create_reference(env, argv[4], 1, &c->batch_ref);
  napi_wrap(env, self, c, finalize_capture, NULL, NULL);
  napi_create_reference(env, self, 1, &c->self);

  napi_value link_type, link_name;
  const char *name = pcap_datalink_val_to_name(c->link_type);
  napi_create_int32(env, c->link_type, &link_type);
  if (name == NULL) napi_get_null(env, &link_name);
  else napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &link_name);
  napi_set_named_property(env, self, "linkType", link_type);
  napi_set_named_property(env, self, "linkTypeName", link_name);

  if (c->threads == 0) {
    uv_poll_start(&c->poll, UV_READABLE, on_readable);
  } else if (!start_workers(env, c)) {
    /* The object is wrapped now: closing it frees what was opened, as a later close() would. */
    close_capture(env, c);
    free(filter);
    return NULL;
  }
  free(filter);
  return self;

fail:
  if (c != NULL) {
    /* Nothing was handed to libuv yet: only the handles and the queue to let go. */
    if (c->threads > 0) release_workers(c);
    free(c);
  }
  if (pcap != NULL) pcap_close(pcap);
  free(filter);
  return NULL;
}

static napi_value capture_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  capture *c = unwrap_live(env, info, &argc, NULL);
  if (c == NULL) return NULL;
  /* Summed over the threads' handles (doubles: the sum of uint32 counters may pass 2^32). */
  double recv = 0, drop = 0, ifdrop = 0, queue_dropped = 0;
  if (c->threads > 0) pthread_rwlock_wrlock(&c->handles_lock);
  int handles = c->threads > 0 ? c->threads : 1;
  for (int i = 0; i < handles; i++) {
    pcap_t *pcap = c->threads > 0 ? c->workers[i].pcap : c->pcap;
    struct pcap_stat counters;
    if (pcap_stats(pcap, &counters) != 0) {
      throw_message(env, "cannot read capture counters", pcap_geterr(pcap));
      if (c->threads > 0) pthread_rwlock_unlock(&c->handles_lock);
      return NULL;
    }
    recv += counters.ps_recv;
    drop += counters.ps_drop;
    ifdrop += counters.ps_ifdrop;
  }
  if (c->threads > 0) {
    pthread_rwlock_unlock(&c->handles_lock);
    pthread_mutex_lock(&c->queue_lock);
    queue_dropped = c->queue_dropped;
    pthread_mutex_unlock(&c->queue_lock);
  }
  napi_value result, received, dropped, interface_dropped, queue;
  napi_create_object(env, &result);
  napi_create_double(env, recv, &received);
  /* A packet the threads' queue had no room for is a drop like one the ring had no room for. */
  napi_create_double(env, drop + queue_dropped, &dropped);
  napi_create_double(env, ifdrop, &interface_dropped);
  napi_create_double(env, queue_dropped, &queue);
  napi_set_named_property(env, result, "received", received);
  napi_set_named_property(env, result, "dropped", dropped);
  napi_set_named_property(env, result, "interfaceDropped", interface_dropped);
  napi_set_named_property(env, result, "queueDropped", queue);
  return result;
}

static napi_value capture_set_filter(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  capture *c = unwrap_live(env, info, &argc, argv);
  if (c == NULL) return NULL;
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "setFilter(filter)");
    return NULL;
  }
  char *filter = malloc(MAX_FILTER_CHARS);
  if (filter == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (read_string(env, argv[0], filter, MAX_FILTER_CHARS, "filter")) {
    if (c->threads == 0) {
      apply_filter(env, c->pcap, filter);
    } else {
      pthread_rwlock_wrlock(&c->handles_lock);
      for (int i = 0; i < c->threads && apply_filter(env, c->workers[i].pcap, filter); i++) continue;
      pthread_rwlock_unlock(&c->handles_lock);
    }
  }
  free(filter);
  return NULL;
}

/* screenSpa(port, screen, doors) starts checking that port's datagrams; screenSpa(null) stops. */
static napi_value capture_screen_spa(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  capture *c = unwrap_live(env, info, &argc, argv);
  if (c == NULL) return NULL;
  napi_valuetype first = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &first);
  capture_screen *next = NULL;
  if (first != napi_null && first != napi_undefined) {
    if (argc < 3) {
      napi_throw_type_error(env, NULL, "screenSpa(port, screen, doors) or screenSpa(null)");
      return NULL;
    }
    next = capture_screen_new(env, argv[0], argv[1], argv[2]);
    if (next == NULL) return NULL;
  }
  /* The threads screen under the lock held shared, so none holds the old screen once it is ours. */
  if (c->threads > 0) pthread_rwlock_wrlock(&c->handles_lock);
  capture_screen *previous = c->screen;
  c->screen = next;
  if (c->threads > 0) pthread_rwlock_unlock(&c->handles_lock);
  capture_screen_free(env, previous);
  return NULL;
}

static napi_value capture_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  capture *c = unwrap_open(env, info, &argc, NULL);
  if (c != NULL) close_capture(env, c);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"stats", NULL, capture_stats, NULL, NULL, NULL, napi_default_method, NULL},
      {"setFilter", NULL, capture_set_filter, NULL, NULL, NULL, napi_default_method, NULL},
      {"screenSpa", NULL, capture_screen_spa, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, capture_close, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value constructor;
  napi_define_class(env, "Capture", NAPI_AUTO_LENGTH, capture_new, NULL, sizeof methods / sizeof methods[0], methods, &constructor);
  napi_set_named_property(env, exports, "Capture", constructor);
  spa_screen_define(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
