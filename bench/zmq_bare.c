/* The benchmarks' bare libzmq peers, built against the libzmq that pyzmq ships (bench/bench.py
 * compiles this; bench/run.py uses every mode):
 *   zmq_bare send ENDPOINT FILE      PUSH-connects and sends each line of FILE as one frame
 *                                    (blocking sends: the receiver's pace sets the rate)
 *   zmq_bare pub ENDPOINT FILE HWM   XPUB-connects with a send HWM of HWM, waits (10 s at most) for
 *                                    a subscription, then sends each line without ever waiting: a
 *                                    send to a full queue is dropped, and counted ("dropped=")
 *   zmq_bare recv ENDPOINT N [TYPE [SOCKETS [QUIET_MS]]]
 *                                    PULL (or TYPE SUB, subscribed to all) binds, counts N frames and
 *                                    exits (the ceiling); with SOCKETS > 1, that many sockets share the
 *                                    count (two workers of a distributor); with QUIET_MS, it also ends
 *                                    once no frame came for QUIET_MS after the first (a lossy run)
 *   zmq_bare write ENDPOINT FILE [TYPE]
 *                                    PULL (or SUB) binds and appends each frame and a newline to
 *                                    FILE (buffered, written when the buffer fills or the socket runs
 *                                    dry), no validation, until killed: the ceiling of an aggregator
 *                                    that writes a file
 *   zmq_bare forward IN OUT          PULL-binds IN, PUSH-binds OUT, passes each frame on (blocking
 *                                    both ways) until killed: the ceiling of a distributor
 * An ENDPOINT starting with '>' is connected to, with '@' bound (else the mode's default above).
 * Each prints CLOCK_MONOTONIC timestamps on stdout (the clock of Python's time.monotonic()): the
 * senders "t_start=" once FILE is in memory (pub: once subscribed), just before the first send (so
 * reading a 150 MB file is not charged to the receiver under test); the receiver "t_end=" when it
 * had its last frame, then "received=". */
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define ZMQ_PUB 1
#define ZMQ_SUB 2
#define ZMQ_PULL 7
#define ZMQ_PUSH 8
#define ZMQ_XPUB 9
#define ZMQ_SUBSCRIBE 6
#define ZMQ_LINGER 17
#define ZMQ_SNDHWM 23
#define ZMQ_RCVHWM 24
#define ZMQ_RCVTIMEO 27
#define ZMQ_XPUB_NODROP 69
#define ZMQ_DONTWAIT 1
#define ZMQ_POLLIN 1
#define MAX_SOCKETS 16
typedef struct { unsigned char _[64] __attribute__((aligned(8))); } zmq_msg_t;
typedef struct { void *socket; int fd; short events, revents; } zmq_pollitem_t;
void *zmq_ctx_new(void);
int zmq_ctx_term(void *);
void *zmq_socket(void *, int);
int zmq_close(void *);
int zmq_bind(void *, const char *);
int zmq_connect(void *, const char *);
int zmq_setsockopt(void *, int, const void *, size_t);
int zmq_send(void *, const void *, size_t, int);
int zmq_msg_init(zmq_msg_t *);
int zmq_msg_recv(zmq_msg_t *, void *, int);
int zmq_msg_send(zmq_msg_t *, void *, int);
int zmq_msg_close(zmq_msg_t *);
void *zmq_msg_data(zmq_msg_t *);
size_t zmq_msg_size(zmq_msg_t *);
int zmq_poll(zmq_pollitem_t *, int, long);

static struct timespec now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts;
}

static void stamp(const char *what, struct timespec ts)
{
    printf("%s=%ld.%09ld\n", what, (long)ts.tv_sec, ts.tv_nsec);
    fflush(stdout);
}

/* A socket of TYPE with both HWMs, bound or connected as ENDPOINT's prefix (or `bind`) says. */
static void *open_socket(void *ctx, int type, const char *endpoint, int bind)
{
    int hwm = 10000, linger = -1;
    void *s = zmq_socket(ctx, type);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    if (*endpoint == '@' || *endpoint == '>') {
        bind = *endpoint == '@';
        endpoint++;
    }
    if (bind ? zmq_bind(s, endpoint) : zmq_connect(s, endpoint)) {
        perror(endpoint);
        exit(1);
    }
    return s;
}

static char *slurp(const char *path, long *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(*size + 1);
    if (fread(buf, 1, *size, f) != (size_t)*size) { perror("read"); exit(1); }
    fclose(f);
    return buf;
}

static int send_lines(void *ctx, const char *endpoint, const char *path, int pub_hwm)
{
    long size, dropped = 0, sent = 0;
    char *buf = slurp(path, &size);
    void *s;
    if (pub_hwm >= 0) {
        int nodrop = 1, timeout = 10000;
        zmq_msg_t sub;
        s = zmq_socket(ctx, ZMQ_XPUB);
        zmq_setsockopt(s, ZMQ_SNDHWM, &pub_hwm, sizeof pub_hwm);
        zmq_setsockopt(s, ZMQ_XPUB_NODROP, &nodrop, sizeof nodrop); /* EAGAIN, so drops are counted */
        zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
        if (zmq_connect(s, endpoint + (*endpoint == '>'))) { perror("connect"); return 1; }
        zmq_msg_init(&sub);
        if (zmq_msg_recv(&sub, s, 0) < 0) { fprintf(stderr, "no subscription within 10 s\n"); return 1; }
        zmq_msg_close(&sub);
        stamp("t_start", now());
    } else {
        stamp("t_start", now());
        s = open_socket(ctx, ZMQ_PUSH, endpoint, 0);
    }
    char *p = buf, *end = buf + size;
    while (p < end) {
        char *nl = memchr(p, '\n', end - p);
        if (!nl) nl = end;
        if (zmq_send(s, p, nl - p, pub_hwm >= 0 ? ZMQ_DONTWAIT : 0) < 0) {
            if (errno != EAGAIN) { perror("send"); return 1; }
            dropped++;
        } else
            sent++;
        p = nl + 1;
    }
    printf("sent=%ld\ndropped=%ld\n", sent, dropped);
    fflush(stdout);
    zmq_close(s);
    return 0;
}

static int recv_count(void *ctx, const char *endpoint, long n, int type, int nsock, long quiet)
{
    zmq_pollitem_t items[MAX_SOCKETS];
    long got = 0;
    struct timespec last = now();
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (int i = 0; i < nsock; i++)
        items[i] = (zmq_pollitem_t){open_socket(ctx, type, endpoint, 1), 0, ZMQ_POLLIN, 0};
    if (nsock == 1 && quiet <= 0) { /* the plain ceiling: libzmq's blocking receive, nothing else */
        while (got < n && zmq_msg_recv(&m, items[0].socket, 0) >= 0)
            got++;
        last = now();
    } else {
        while (got < n) {
            long before = got;
            for (int i = 0; i < nsock; i++)
                while (got < n && zmq_msg_recv(&m, items[i].socket, ZMQ_DONTWAIT) >= 0)
                    got++;
            if (got > before)
                last = now();
            else if (zmq_poll(items, nsock, got && quiet > 0 ? quiet : -1) == 0)
                break; /* quiet for QUIET_MS: what did not come is lost */
        }
    }
    stamp("t_end", last);
    printf("received=%ld\n", got);
    zmq_msg_close(&m);
    for (int i = 0; i < nsock; i++)
        zmq_close(items[i].socket);
    return 0;
}

/* The ceiling of an aggregator that writes a file: each message and a newline, into a buffer
 * written out when full or when the socket runs dry (as an aggregator must), no validation. */
static int recv_write(void *ctx, const char *endpoint, const char *path, int type)
{
    static char buf[1 << 18];
    size_t used = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    void *s = open_socket(ctx, type, endpoint, 1);
    zmq_msg_t m;
    if (fd < 0) { perror(path); return 1; }
    zmq_msg_init(&m);
    for (;;) {
        if (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) < 0) {
            if (used && write(fd, buf, used) != (ssize_t)used) { perror("write"); return 1; }
            used = 0;
            if (zmq_msg_recv(&m, s, 0) < 0)
                break; /* interrupted: SIGTERM */
        }
        size_t len = zmq_msg_size(&m);
        if (used + len + 1 > sizeof buf) {
            if (write(fd, buf, used) != (ssize_t)used) { perror("write"); return 1; }
            used = 0;
        }
        if (len + 1 > sizeof buf) { /* (larger than the buffer: on its own) */
            if (write(fd, zmq_msg_data(&m), len) != (ssize_t)len || write(fd, "\n", 1) != 1) { perror("write"); return 1; }
            continue;
        }
        memcpy(buf + used, zmq_msg_data(&m), len);
        used += len;
        buf[used++] = '\n';
    }
    return 0;
}

static int forward(void *ctx, const char *in_endpoint, const char *out_endpoint)
{
    void *in = open_socket(ctx, ZMQ_PULL, in_endpoint, 1);
    void *out = open_socket(ctx, ZMQ_PUSH, out_endpoint, 1);
    zmq_msg_t m;
    zmq_msg_init(&m);
    while (zmq_msg_recv(&m, in, 0) >= 0 && zmq_msg_send(&m, out, 0) >= 0)
        ;
    perror("forward");
    return 1;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    void *ctx = zmq_ctx_new();
    int rc;
    if (strcmp(mode, "send") == 0 && argc == 4)
        rc = send_lines(ctx, argv[2], argv[3], -1);
    else if (strcmp(mode, "pub") == 0 && argc == 5)
        rc = send_lines(ctx, argv[2], argv[3], atoi(argv[4]));
    else if (strcmp(mode, "recv") == 0 && argc >= 4 && argc <= 7) {
        int type = argc > 4 && strcmp(argv[4], "SUB") == 0 ? ZMQ_SUB : ZMQ_PULL;
        int nsock = argc > 5 ? atoi(argv[5]) : 1;
        if (nsock < 1 || nsock > MAX_SOCKETS) { fprintf(stderr, "SOCKETS: 1 to %d\n", MAX_SOCKETS); return 2; }
        rc = recv_count(ctx, argv[2], atol(argv[3]), type, nsock, argc > 6 ? atol(argv[6]) : 0);
    } else if (strcmp(mode, "write") == 0 && (argc == 4 || argc == 5))
        rc = recv_write(ctx, argv[2], argv[3], argc > 4 && strcmp(argv[4], "SUB") == 0 ? ZMQ_SUB : ZMQ_PULL);
    else if (strcmp(mode, "forward") == 0 && argc == 4)
        rc = forward(ctx, argv[2], argv[3]);
    else {
        fprintf(stderr, "usage: zmq_bare send ENDPOINT FILE | pub ENDPOINT FILE HWM | "
                        "recv ENDPOINT N [PULL|SUB [SOCKETS [QUIET_MS]]] | write ENDPOINT FILE [PULL|SUB] | "
                        "forward IN OUT\n");
        return 2;
    }
    zmq_ctx_term(ctx);
    return rc;
}
