/* The benchmark's bare libzmq peers, built against the libzmq that pyzmq ships (bench/bench.py
 * compiles this):
 *   zmq_bare send ENDPOINT FILE      PUSH-connects and sends each line of FILE as one frame
 *                                    (blocking sends: the receiver's pace sets the rate)
 *   zmq_bare recv ENDPOINT N         PULL-binds, counts N frames and exits (the ceiling)
 * Each prints one CLOCK_MONOTONIC timestamp on stdout (the clock of Python's time.monotonic()):
 * the sender "t_start=" once FILE is in memory, just before it connects (so reading a 150 MB file
 * is not charged to the receiver under test); the receiver "t_end=" when it has all N frames. */
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#define ZMQ_PUSH 8
#define ZMQ_PULL 7
#define ZMQ_SNDHWM 23
#define ZMQ_RCVHWM 24
#define ZMQ_LINGER 17
typedef struct { unsigned char _[64] __attribute__((aligned(8))); } zmq_msg_t;
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
int zmq_msg_close(zmq_msg_t *);

static void stamp(const char *what)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("%s=%ld.%09ld\n", what, (long)ts.tv_sec, ts.tv_nsec);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: zmq_bare send ENDPOINT FILE | zmq_bare recv ENDPOINT N\n");
        return 2;
    }
    void *ctx = zmq_ctx_new();
    int hwm = 10000, linger = -1;
    if (strcmp(argv[1], "send") == 0) {
        FILE *f = fopen(argv[3], "rb");
        if (!f) { perror(argv[3]); return 1; }
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *buf = malloc(size);
        if (fread(buf, 1, size, f) != (size_t)size) { perror("read"); return 1; }
        stamp("t_start");
        void *s = zmq_socket(ctx, ZMQ_PUSH);
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_connect(s, argv[2])) { perror("connect"); return 1; }
        char *p = buf, *end = buf + size;
        while (p < end) {
            char *nl = memchr(p, '\n', end - p);
            if (!nl) nl = end;
            zmq_send(s, p, nl - p, 0);
            p = nl + 1;
        }
        zmq_close(s);
    } else {
        long n = atol(argv[3]), got = 0;
        void *s = zmq_socket(ctx, ZMQ_PULL);
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
        if (zmq_bind(s, argv[2])) { perror("bind"); return 1; }
        zmq_msg_t m;
        zmq_msg_init(&m);
        while (got < n && zmq_msg_recv(&m, s, 0) >= 0)
            got++;
        stamp("t_end");
        printf("received=%ld\n", got);
        zmq_msg_close(&m);
        zmq_close(s);
    }
    zmq_ctx_term(ctx);
    return 0;
}
