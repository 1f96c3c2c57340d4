# C declarations of the native core: the libzmq pointer table, the simdjson wrapper, and the
# plain structs the GIL-free loop works on.
from libc.stdint cimport uint64_t


cdef extern from "zmq_api.h" nogil:
    ctypedef struct mp_zmq_msg_t:
        pass
    ctypedef struct mp_zmq_pollitem_t:
        void *socket
        int fd
        short events
        short revents
    ctypedef struct mp_zmq_api_t:
        int (*msg_init)(mp_zmq_msg_t *) noexcept nogil
        int (*msg_close)(mp_zmq_msg_t *) noexcept nogil
        int (*msg_recv)(mp_zmq_msg_t *, void *, int) noexcept nogil
        void *(*msg_data)(mp_zmq_msg_t *) noexcept nogil
        size_t (*msg_size)(const mp_zmq_msg_t *) noexcept nogil
        int (*msg_more)(const mp_zmq_msg_t *) noexcept nogil
        int (*send)(void *, const void *, size_t, int) noexcept nogil
        int (*poll)(mp_zmq_pollitem_t *, int, long) noexcept nogil
        int (*zerrno)() noexcept nogil
        const char *(*strerror)(int) noexcept nogil
        void (*version)(int *, int *, int *) noexcept nogil
        void *(*ctx_new)() noexcept nogil
        int (*ctx_term)(void *) noexcept nogil
    mp_zmq_api_t mp_zmq
    const char *mp_zmq_load()
    int MP_ZMQ_DONTWAIT
    int MP_ZMQ_POLLIN
    int MP_ZMQ_POLLOUT
    int MP_ZMQ_ETERM
    int MP_ZMQ_EVENT_CONNECTED
    int MP_ZMQ_EVENT_ACCEPTED
    int MP_ZMQ_EVENT_CLOSED
    int MP_ZMQ_EVENT_DISCONNECTED


cdef extern from "json_frame.h" nogil:
    ctypedef struct mp_json:
        pass
    int MP_JSON_PADDING
    int MP_JSON_OBJECT
    int MP_JSON_EMPTY
    int MP_JSON_HAS_KEY
    int MP_JSON_EXOTIC
    mp_json *mp_json_new()
    void mp_json_free(mp_json *)
    int mp_json_check(mp_json *, const char *, size_t, const char *, size_t, int *, const char **)
    size_t mp_json_minify(const char *, size_t, char *)
    int mp_json_compact(const char *, size_t)
    int mp_utf8_valid(const char *, size_t)


cdef struct buf_t:
    char *p
    size_t len
    size_t cap


# A batch: accepted records, each followed by '\n' in `data`, and the rejected inputs.
cdef struct batch_t:
    buf_t data
    size_t *off          # record i starts at data.p + off[i]
    size_t *rec_len      # and is rec_len[i] bytes long (the '\n' not counted)
    size_t n
    size_t cap
    buf_t rdata          # what is kept of each rejected input, back to back
    size_t *r_off
    size_t *r_kept
    size_t *r_size       # the input's full size
    const char **r_why   # a static description
    size_t nr
    size_t rcap
    size_t exotic        # records with numbers beyond int64/double: decode them exactly
    size_t limit         # records a fill reads at most (0: MAX_RECORDS)
    int oom


cdef struct source_t
ctypedef int (*fill_fn)(source_t *, batch_t *, int) noexcept nogil

cdef struct source_t:
    fill_fn fill
    uint64_t received
    uint64_t rejected
    int err
    size_t max_size
    int validate         # 1: JSON, validated and minified; 0: bytes as they came
    const char *key      # field that receives a multipart message's topic (NULL: none)
    size_t keylen
    mp_json *json
    buf_t scratch        # a copy of a document being minified
    buf_t topic          # '"key":"topic"' of the multipart message being read
    size_t frames        # frames of that message seen so far
    uint64_t ignored     # frames between a message's first (topic) and last (payload)
    # ZeroMQ
    void *sock
    # file descriptor (lines)
    int fd
    int eof
    buf_t pending        # bytes read but not yet a whole line
    buf_t head           # start of an oversized line being skipped
    size_t skipped       # bytes of that line so far
    int skipped_cr       # the last of them is a \r (of a \r\n, if a \n comes next)
    int more             # whole lines wait in pending (the last batch was full)


cdef struct sink_t
ctypedef int (*write_fn)(sink_t *, batch_t *, double) noexcept nogil

cdef struct sink_t:
    write_fn write
    uint64_t sent
    uint64_t dropped
    uint64_t failed
    int err              # errno of the last failure not yet reported
    int pending          # a write was interrupted: the batch is not all written
    size_t resume        # how far the interrupted write got (bytes, or records for ZeroMQ)
    # file descriptor
    int fd
    int regular          # a regular file (writing to it cannot block on a reader)
    char *path           # a file to keep writing to, reopened when moved or removed
    int append
    # ZeroMQ
    void *sock
    int xpub
    long subscribers
    double next_count    # when to read (un)subscriptions again, while there are subscribers
    long first_wait_ms   # before the first send on a PUB socket, wait this long for a subscriber
    double wait_until    # (when that wait ends)
    void *monitor        # the socket's monitor (handshakes, disconnections), or NULL
    unsigned peers[64]   # descriptors of connected peers (MAX_PEERS)
    unsigned npeers
    uint64_t unconfirmed # sent while no peer was connected, and none has connected since
