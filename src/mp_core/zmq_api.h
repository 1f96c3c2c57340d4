/* The few libzmq entry points the core uses, reached through pointers filled at import
 * from the libzmq that pyzmq already loaded (one libzmq per process; see DESIGN.md). */
#ifndef MP_ZMQ_API_H
#define MP_ZMQ_API_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct { unsigned char _[64] __attribute__((aligned(sizeof(void *)))); } mp_zmq_msg_t;
typedef struct { void *socket; int fd; short events; short revents; } mp_zmq_pollitem_t;

typedef struct {
    int (*msg_init)(mp_zmq_msg_t *);
    int (*msg_close)(mp_zmq_msg_t *);
    int (*msg_recv)(mp_zmq_msg_t *, void *, int);
    void *(*msg_data)(mp_zmq_msg_t *);
    size_t (*msg_size)(const mp_zmq_msg_t *);
    int (*msg_more)(const mp_zmq_msg_t *);
    int (*send)(void *, const void *, size_t, int);
    int (*poll)(mp_zmq_pollitem_t *, int, long);
    int (*zerrno)(void);
    const char *(*strerror)(int);
    void (*version)(int *, int *, int *);
    void *(*ctx_new)(void);
    int (*ctx_term)(void *);
} mp_zmq_api_t;

extern mp_zmq_api_t mp_zmq;

/* Finds the loaded libzmq and fills mp_zmq; returns NULL, or a message saying what failed. */
const char *mp_zmq_load(void);

#define MP_ZMQ_DONTWAIT 1
#define MP_ZMQ_POLLIN 1
#define MP_ZMQ_POLLOUT 2
#define MP_ZMQ_ETERM (156384712 + 53)
#define MP_ZMQ_EVENT_CONNECTED 0x0001
#define MP_ZMQ_EVENT_ACCEPTED 0x0020
#define MP_ZMQ_EVENT_CLOSED 0x0080
#define MP_ZMQ_EVENT_DISCONNECTED 0x0200

#ifdef __cplusplus
}
#endif
#endif
