# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The native core: sources that read and frame messages, sinks that write them, and `pump`, the
loop that moves batches from one source to its sinks without the GIL.

A source fills a Batch: accepted records (validated and minified JSON, or bytes as they came) and
rejected inputs (kept for the error chain). A sink writes a Batch: files and pipes get one record a
line in one write(2) a batch; ZeroMQ sockets get one frame a record, never blocking: a record that
meets the high-water mark is dropped and counted.
"""
from libc.errno cimport errno, EINTR, EAGAIN, ENOMEM, ETIMEDOUT
from libc.stdint cimport uint64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcmp, memcpy, memchr, memmove, memset, strlen, strerror
from posix.unistd cimport read, write, close
from posix.fcntl cimport open as c_open, O_WRONLY, O_CREAT, O_APPEND, O_TRUNC
from posix.stat cimport struct_stat, stat, fstat, S_ISREG

from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE

from core cimport *

import zmq  # loads the libzmq that the core then shares with pyzmq

cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    int poll(pollfd *, unsigned long, int)
    short POLLIN, POLLOUT

cdef extern from "<fcntl.h>" nogil:
    int O_CLOEXEC

cdef extern from "<time.h>" nogil:
    struct timespec:
        long tv_sec
        long tv_nsec
    int clock_gettime(int, timespec *)
    int CLOCK_MONOTONIC

cdef const char *_err = mp_zmq_load()
if _err != NULL:
    raise ImportError("message_passing core: " + (<bytes>_err).decode())
cdef int _maj, _min, _pat
mp_zmq.version(&_maj, &_min, &_pat)
if (_maj, _min, _pat) != zmq.zmq_version_info():
    raise ImportError("message_passing core: found libzmq %d.%d.%d, pyzmq uses %s"
                      % (_maj, _min, _pat, zmq.zmq_version()))

# What fill and pump report.
cdef enum:
    OK = 0          # a batch (possibly empty) was read
    EOF = 1         # the source has ended; the batch holds its last records
    WAKE = 2        # the wake-up descriptor became readable (a signal arrived)
    ERROR = 3       # the source failed; its `error` tells why
    REJECTED = 4    # (pump) the batch holds rejected inputs for the error chain
    SINK_ERROR = 5  # (pump) a sink failed; its `take_error()` tells why

STATUS = {"OK": OK, "EOF": EOF, "WAKE": WAKE, "ERROR": ERROR, "REJECTED": REJECTED,
          "SINK_ERROR": SINK_ERROR}
globals().update(STATUS)

DEF MAX_RECORDS = 4096        # records in one batch
DEF MAX_BYTES = 256 << 10     # bytes in one batch (a single larger record still fits)
DEF READ_CHUNK = 256 << 10    # read(2) size for line sources
DEF KEEP = 4096               # bytes kept of an oversized input for its error record

cdef const char *HEX = "0123456789abcdef"
cdef int g_wake_fd = -1  # see set_wake_fd
DEF MAX_PEERS = 64       # peers a ZeroMQ sink tracks by descriptor


# ---------------------------------------------------------------------------------------------
# buffers and batches

cdef int buf_reserve(buf_t *b, size_t extra) noexcept nogil:
    cdef size_t want = b.len + extra
    cdef size_t cap
    cdef char *p
    if want <= b.cap:
        return 0
    cap = b.cap * 2 if b.cap else 4096
    while cap < want:
        cap *= 2
    p = <char *>realloc(b.p, cap)
    if p == NULL:
        return -1
    b.p = p
    b.cap = cap
    return 0


cdef void buf_shrink(buf_t *b, size_t keep) noexcept nogil:
    # give back what one huge input made a reusable buffer grow to (its content is kept)
    cdef char *p
    if b.cap > keep and b.len <= keep:
        p = <char *>realloc(b.p, keep) if keep else NULL
        if keep and p == NULL:
            return
        if not keep:
            free(b.p)
        b.p = p
        b.cap = keep


cdef int grow_index(batch_t *b) noexcept nogil:
    cdef size_t cap = b.cap * 2 if b.cap else 256
    cdef size_t *o = <size_t *>realloc(b.off, cap * sizeof(size_t))
    if o == NULL:
        return -1
    b.off = o
    o = <size_t *>realloc(b.rec_len, cap * sizeof(size_t))
    if o == NULL:
        return -1
    b.rec_len = o
    b.cap = cap
    return 0


cdef int grow_rejects(batch_t *b) noexcept nogil:
    cdef size_t cap = b.rcap * 2 if b.rcap else 16
    cdef void *p
    p = realloc(b.r_off, cap * sizeof(size_t))
    if p == NULL:
        return -1
    b.r_off = <size_t *>p
    p = realloc(b.r_kept, cap * sizeof(size_t))
    if p == NULL:
        return -1
    b.r_kept = <size_t *>p
    p = realloc(b.r_size, cap * sizeof(size_t))
    if p == NULL:
        return -1
    b.r_size = <size_t *>p
    p = realloc(b.r_why, cap * sizeof(char *))
    if p == NULL:
        return -1
    b.r_why = <const char **>p
    b.rcap = cap
    return 0


cdef void batch_clear(batch_t *b) noexcept nogil:
    b.data.len = 0
    b.n = 0
    b.rdata.len = 0
    b.nr = 0
    b.exotic = 0
    b.oom = 0
    buf_shrink(&b.data, 2 * MAX_BYTES)
    buf_shrink(&b.rdata, 1 << 20)


cdef bint batch_full(batch_t *b) noexcept nogil:
    return b.n >= (b.limit if b.limit else MAX_RECORDS) or b.data.len >= MAX_BYTES


# Appends a record of `n` bytes that the caller then writes at the returned address.
cdef char *batch_open_record(batch_t *b, size_t n) noexcept nogil:
    if b.n == b.cap and grow_index(b) < 0:
        return NULL
    if buf_reserve(&b.data, n + 1) < 0:
        return NULL
    b.off[b.n] = b.data.len
    return b.data.p + b.data.len


cdef void batch_close_record(batch_t *b, size_t n) noexcept nogil:
    b.data.p[b.data.len + n] = b'\n'
    b.rec_len[b.n] = n
    b.data.len += n + 1
    b.n += 1


cdef int batch_add(batch_t *b, const char *p, size_t n) noexcept nogil:
    cdef char *dst = batch_open_record(b, n)
    if dst == NULL:
        b.oom = 1
        return -1
    memcpy(dst, p, n)
    batch_close_record(b, n)
    return 0


cdef int batch_reject(batch_t *b, const char *p, size_t kept, size_t size, const char *why) noexcept nogil:
    if b.nr == b.rcap and grow_rejects(b) < 0:
        b.oom = 1
        return -1
    if buf_reserve(&b.rdata, kept) < 0:
        b.oom = 1
        return -1
    if kept:
        memcpy(b.rdata.p + b.rdata.len, p, kept)
    b.r_off[b.nr] = b.rdata.len
    b.r_kept[b.nr] = kept
    b.r_size[b.nr] = size
    b.r_why[b.nr] = why
    b.rdata.len += kept
    b.nr += 1
    return 0


cdef void batch_free(batch_t *b) noexcept nogil:
    free(b.data.p)
    free(b.off)
    free(b.rec_len)
    free(b.rdata.p)
    free(b.r_off)
    free(b.r_kept)
    free(b.r_size)
    free(b.r_why)


cdef class Batch:
    """Records and rejected inputs read by one `fill`, for the Python side of a chain."""
    cdef batch_t b

    def __dealloc__(self):
        batch_free(&self.b)

    def __len__(self):
        return self.b.n

    def clear(self):
        batch_clear(&self.b)

    @property
    def limit(self):
        """Records a fill reads at most: smaller batches for a slow Python filter."""
        return self.b.limit if self.b.limit else MAX_RECORDS

    @limit.setter
    def limit(self, size_t n):
        self.b.limit = n

    @property
    def exotic(self):
        """How many records hold numbers beyond a 64-bit integer or a double (orjson would round them)."""
        return self.b.exotic

    def lines(self):
        """The records as bytes, each followed by a newline."""
        return self.b.data.p[:self.b.data.len] if self.b.data.len else b""

    def messages(self):
        """The records as a list of bytes."""
        cdef size_t i
        return [self.b.data.p[self.b.off[i]:self.b.off[i] + self.b.rec_len[i]] for i in range(self.b.n)]

    def json_array(self):
        """The records as one JSON array, for a single decode call (records must be JSON)."""
        cdef size_t i
        cdef char *p
        if self.b.n == 0:
            return b"[]"
        out = PyBytes_FromStringAndSize(NULL, self.b.data.len + 1)
        p = PyBytes_AS_STRING(out)
        p[0] = b'['
        memcpy(p + 1, self.b.data.p, self.b.data.len)
        for i in range(self.b.n):
            p[1 + self.b.off[i] + self.b.rec_len[i]] = b','
        p[self.b.data.len] = b']'
        return out

    def rejects(self):
        """The rejected inputs: a list of (bytes kept, full size, reason)."""
        cdef size_t i
        return [(self.b.rdata.p[self.b.r_off[i]:self.b.r_off[i] + self.b.r_kept[i]],
                 self.b.r_size[i], (<bytes>self.b.r_why[i]).decode())
                for i in range(self.b.nr)]

    def take_rejects(self):
        """The rejected inputs, as rejects(), which the batch then forgets: each is reported once,
        though a signal makes pump return the same batch again (to finish writing it)."""
        rejects = self.rejects()
        self.b.nr = 0
        self.b.rdata.len = 0
        return rejects

    def add(self, data):
        """Appends one record (bytes, or str as UTF-8); used to hand records to a sink."""
        if not isinstance(data, bytes):
            data = data.encode() if isinstance(data, str) else bytes(data)
        if batch_add(&self.b, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data)) < 0:
            raise MemoryError()


# ---------------------------------------------------------------------------------------------
# sources

cdef double now_ms() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6


# One input: validated and minified (JSON) or copied as it is, then added to the batch; or rejected.
cdef int take(source_t *s, batch_t *b, const char *p, size_t n) noexcept nogil:
    cdef int flags = 0
    cdef const char *why = NULL
    cdef char *dst
    cdef size_t m, t
    cdef int comma
    cdef const char *whole
    cdef size_t whole_n
    s.received += 1
    if n > s.max_size:
        s.rejected += 1
        return batch_reject(b, p, n if n < KEEP else KEEP, n, "message larger than max_message_size")
    if not s.validate:
        return batch_add(b, p, n)
    whole, whole_n = p, n  # a reject keeps the input as it came
    if n >= 3 and memcmp(p, b"\xef\xbb\xbf", 3) == 0:
        p += 3  # a UTF-8 byte order mark: allowed before JSON text, never passed on
        n -= 3
    # validated where it lands in the batch: room for a topic, and simdjson's padding after it
    dst = batch_open_record(b, n + s.topic.len + 1 + MP_JSON_PADDING)
    if dst == NULL:
        b.oom = 1
        return -1
    memcpy(dst, p, n)
    memset(dst + n, 0, MP_JSON_PADDING)  # simdjson reads it: what it holds must not be left to chance
    if mp_json_check(s.json, dst, n, s.key, s.keylen if s.topic.len else 0, &flags, &why):
        s.rejected += 1
        return batch_reject(b, whole, whole_n, whole_n, why)
    m = n
    if not mp_json_compact(dst, n):
        s.scratch.len = 0
        if buf_reserve(&s.scratch, n + MP_JSON_PADDING) < 0:
            b.oom = 1
            return -1
        memcpy(s.scratch.p, dst, n)
        m = mp_json_minify(s.scratch.p, n, dst)
        buf_shrink(&s.scratch, 1 << 20)
    t = s.topic.len if (flags & MP_JSON_OBJECT) and not (flags & MP_JSON_HAS_KEY) else 0
    if t:  # '{...' becomes '{"key":"topic",...'
        comma = 0 if flags & MP_JSON_EMPTY else 1
        memmove(dst + 1 + t + comma, dst + 1, m - 1)
        memcpy(dst + 1, s.topic.p, t)
        if comma:
            dst[1 + t] = b','
        m += t + comma
    batch_close_record(b, m)
    if flags & MP_JSON_EXOTIC:
        b.exotic += 1
    return 0


# Writes p[0:n] as the inside of a JSON string: quotes, backslashes and control characters
# escaped; bytes of text that is not UTF-8 as the text \xNN. Needs 6 * n bytes at o.
cdef char *json_escape(char *o, const char *p, size_t n) noexcept nogil:
    cdef size_t i
    cdef unsigned char c
    cdef int utf8 = mp_utf8_valid(p, n)
    for i in range(n):
        c = <unsigned char>p[i]
        if c == b'"' or c == b'\\':
            o[0] = b'\\'
            o[1] = c
            o += 2
        elif c < 0x20 or c == 0x7f or (c >= 0x80 and not utf8):
            if c >= 0x80:
                memcpy(o, b"\\\\x", 3)
                o += 3
            else:
                memcpy(o, b"\\u00", 4)
                o += 4
            o[0] = HEX[c >> 4]
            o[1] = HEX[c & 15]
            o += 2
        else:
            o[0] = c
            o += 1
    return o


# Remembers a multipart message's topic as '"key":"topic"', both escaped for JSON.
cdef void set_topic(source_t *s, const char *p, size_t n) noexcept nogil:
    cdef char *o
    s.topic.len = 0
    if s.keylen == 0 or n == 0:
        return
    if buf_reserve(&s.topic, 6 * (s.keylen + n) + 8) < 0:
        return
    o = s.topic.p
    o[0] = b'"'
    o = json_escape(o + 1, s.key, s.keylen)
    memcpy(o, b'":"', 3)
    o = json_escape(o + 3, p, n)
    o[0] = b'"'
    s.topic.len = o + 1 - s.topic.p


# Whether a signal came (the wake-up descriptor is readable).
cdef bint woken() noexcept nogil:
    cdef pollfd pfd
    if g_wake_fd < 0:
        return False
    pfd.fd = g_wake_fd
    pfd.events = POLLIN
    pfd.revents = 0
    return poll(&pfd, 1, 0) > 0


# Waits for `fd` (a descriptor, or -1 with `sock` a ZeroMQ socket) or the wake-up descriptor.
# Returns 1 (ready), 0 (timed out or interrupted), WAKE, or -1 (failed; *err set).
cdef int wait_ready(void *sock, int fd, long timeout_ms, int *err) noexcept nogil:
    cdef int wake_fd = g_wake_fd
    cdef mp_zmq_pollitem_t items[2]
    cdef pollfd fds[2]
    cdef int nitems = 2 if wake_fd >= 0 else 1
    cdef int rc
    if sock != NULL:
        items[0].socket = sock
        items[0].fd = 0
        items[0].events = MP_ZMQ_POLLIN
        items[0].revents = 0
        items[1].socket = NULL
        items[1].fd = wake_fd
        items[1].events = MP_ZMQ_POLLIN
        items[1].revents = 0
        rc = mp_zmq.poll(items, nitems, timeout_ms)
        if rc < 0:
            err[0] = mp_zmq.zerrno()
            return 0 if err[0] == EINTR else -1
        if nitems == 2 and items[1].revents:
            return WAKE
        return 1 if items[0].revents else 0
    fds[0].fd = fd
    fds[0].events = POLLIN
    fds[0].revents = 0
    fds[1].fd = wake_fd
    fds[1].events = POLLIN
    fds[1].revents = 0
    rc = poll(fds, nitems, timeout_ms)
    if rc < 0:
        err[0] = errno
        return 0 if err[0] == EINTR else -1
    if nitems == 2 and fds[1].revents:
        return WAKE
    return 1 if fds[0].revents else 0


# One received frame. A message is one record: of several frames the first is the topic and the
# last the payload (frames between, envelopes, are not part of it: counted); a frame alone is the
# payload.
cdef void take_frame(source_t *s, batch_t *b, mp_zmq_msg_t *msg) noexcept nogil:
    cdef const char *p = <const char *>mp_zmq.msg_data(msg)
    cdef size_t n = mp_zmq.msg_size(msg)
    if mp_zmq.msg_more(msg):
        if s.frames == 0:
            set_topic(s, p, n)
        else:
            s.ignored += 1
        s.frames += 1
        return
    take(s, b, p, n)
    s.frames = 0
    s.topic.len = 0


# Receives what is queued (up to a full batch); with nothing queued, waits for the first message:
# with a timeout through zmq_poll, without one in a blocking receive (libzmq's own wait, the
# cheapest: the socket's RCVTIMEO bounds it, so that a signal is never missed for long).
cdef int zmq_fill(source_t *s, batch_t *b, int timeout_ms) noexcept nogil:
    cdef mp_zmq_msg_t msg
    cdef int rc, e, waited = 0, flags = MP_ZMQ_DONTWAIT
    batch_clear(b)
    mp_zmq.msg_init(&msg)
    while True:
        while not batch_full(b) and not b.oom:
            if mp_zmq.msg_recv(&msg, s.sock, flags) < 0:
                break
            flags = MP_ZMQ_DONTWAIT
            take_frame(s, b, &msg)
        if b.oom:
            s.err = ENOMEM
            rc = ERROR
            break
        if b.n or b.nr or batch_full(b):
            rc = OK
            break
        e = mp_zmq.zerrno()
        if e == MP_ZMQ_ETERM:
            rc = EOF
            break
        if e != EAGAIN and e != EINTR:
            s.err = e
            rc = ERROR
            break
        if woken():
            rc = WAKE
            break
        if timeout_ms < 0:
            flags = 0  # block in the next receive
            continue
        if waited or timeout_ms == 0:
            rc = OK
            break
        rc = wait_ready(s.sock, -1, timeout_ms, &s.err)
        if rc == WAKE or rc < 0:
            rc = WAKE if rc == WAKE else ERROR
            break
        waited = 1
    mp_zmq.msg_close(&msg)
    return rc


# One line of a line source; a line longer than max_size is skipped as it streams by and rejected.
cdef void take_line(source_t *s, batch_t *b, const char *p, size_t n) noexcept nogil:
    cdef size_t size, kept
    if n and p[n - 1] == b'\r':  # lines may end in \r\n
        n -= 1
    if s.skipped:
        size = s.skipped + n
        kept = s.head.len
        if n == 0 and s.skipped_cr:  # the \r of its \r\n came in the part skipped
            size -= 1
            if kept == s.skipped:
                kept -= 1
        s.received += 1
        s.rejected += 1
        batch_reject(b, s.head.p, kept, size, "message larger than max_message_size")
        s.skipped = 0
        s.head.len = 0
    elif n:  # empty lines are skipped, as in the original
        take(s, b, p, n)


# Frames the whole lines of s.pending into b, up to the batch's limit (a Python filter gets
# batches it can finish soon); keeps the rest, and notes whether whole lines are left in it.
cdef void frame_lines(source_t *s, batch_t *b) noexcept nogil:
    cdef char *p = s.pending.p
    cdef char *end = p + s.pending.len
    cdef char *nl
    cdef size_t rest, k
    s.more = 0
    while True:
        nl = <char *>memchr(p, b'\n', end - p)
        if nl == NULL:
            break
        if batch_full(b):
            s.more = 1
            break
        take_line(s, b, p, nl - p)
        p = nl + 1
    rest = end - p
    # a partial line over max_size (not counting a \r that may be its \r\n's) is skipped as it
    # streams by: keep its head, drop the rest
    if not s.more and (s.skipped or rest - (1 if rest and p[rest - 1] == b'\r' else 0) > s.max_size):
        if s.skipped == 0:
            k = rest if rest < KEEP else KEEP
            s.head.len = 0
            if buf_reserve(&s.head, k) == 0:
                memcpy(s.head.p, p, k)
                s.head.len = k
        if rest:
            s.skipped_cr = p[rest - 1] == b'\r'
        s.skipped += rest
        rest = 0
    memmove(s.pending.p, p, rest)
    s.pending.len = rest


cdef int fd_fill(source_t *s, batch_t *b, int timeout_ms) noexcept nogil:
    cdef ssize_t got
    cdef int rc
    batch_clear(b)
    if s.more:  # whole lines left from the last read: those first, without waiting
        frame_lines(s, b)
    else:
        if s.eof:
            return EOF
        rc = wait_ready(NULL, s.fd, timeout_ms, &s.err)
        if rc == WAKE:
            return WAKE
        if rc < 0:
            return ERROR
        if rc == 0:
            return OK
        if buf_reserve(&s.pending, READ_CHUNK) < 0:
            s.err = ENOMEM
            return ERROR
        got = read(s.fd, s.pending.p + s.pending.len, READ_CHUNK)
        if got < 0:
            if errno == EINTR or errno == EAGAIN:
                return OK
            s.err = errno
            return ERROR
        if got == 0:  # end of input: the last line may lack its newline
            s.eof = 1
            if s.pending.len or s.skipped:
                take_line(s, b, s.pending.p, s.pending.len)
            s.pending.len = 0
            buf_shrink(&s.pending, 0)
            return EOF
        s.pending.len += got
        frame_lines(s, b)
    if not s.more:
        buf_shrink(&s.pending, 2 * READ_CHUNK)
    if b.oom:
        s.err = ENOMEM
        return ERROR
    return OK


cdef int no_fill(source_t *s, batch_t *b, int timeout_ms) noexcept nogil:
    batch_clear(b)
    return EOF


cdef class Source:
    """Reads messages into batches (or, this base class, frames what `add` is given).
    Counters: received (inputs seen), rejected (of those)."""
    cdef source_t s
    cdef bytes _key

    def __init__(self, *, bint validate=True, size_t max_size=0, topic_field=None):
        self.s.fill = no_fill
        self.s.validate = validate
        self.s.max_size = max_size if max_size else <size_t>-1
        self._key = topic_field.encode() if topic_field else b""
        self.s.key = self._key
        self.s.keylen = len(self._key)
        self.s.json = mp_json_new()
        if self.s.json == NULL:
            raise MemoryError()

    def __dealloc__(self):
        if self.s.json != NULL:
            mp_json_free(self.s.json)
        free(self.s.scratch.p)
        free(self.s.topic.p)
        free(self.s.pending.p)
        free(self.s.head.p)

    @property
    def received(self):
        return self.s.received

    @property
    def ignored_frames(self):
        """Frames of multipart messages between the topic and the payload (not part of a record)."""
        return self.s.ignored

    @property
    def rejected(self):
        return self.s.rejected

    @property
    def error(self):
        """The errno of the last failure, or 0."""
        return self.s.err

    def add(self, Batch batch, data):
        """Frames one message given from Python (bytes, or str as UTF-8) into `batch`, as a
        native input would: accepted, or rejected for the error chain."""
        if not isinstance(data, bytes):
            data = data.encode() if isinstance(data, str) else bytes(data)
        if take(&self.s, &batch.b, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data)) < 0 and batch.b.oom:
            raise MemoryError()

    def fill(self, Batch batch, int timeout_ms=-1):
        """Reads what is available into `batch` (waiting up to timeout_ms for the first input);
        returns OK, EOF, WAKE or ERROR."""
        cdef int st
        with nogil:
            st = self.s.fill(&self.s, &batch.b, timeout_ms)
        return st


cdef class ZmqSource(Source):
    """Receives from a ZeroMQ socket (a pyzmq socket's `underlying` address). One message is one
    record: of several frames, the first is the topic and the last the payload."""
    cdef object _socket

    def __init__(self, socket, **kw):
        Source.__init__(self, **kw)
        self._socket = socket  # keeps the pyzmq socket alive
        self.s.sock = <void *><size_t>socket.underlying
        self.s.fill = zmq_fill


cdef class LineSource(Source):
    """Reads newline-delimited messages from a file descriptor."""

    def __init__(self, int fd, **kw):
        Source.__init__(self, **kw)
        self.s.fd = fd
        self.s.fill = fd_fill

    @property
    def unprocessed(self):
        """Lines read but not yet framed (a stop leaves them): none are lost unseen."""
        cdef size_t n = 0
        cdef const char *p = self.s.pending.p
        cdef const char *end = p + self.s.pending.len
        cdef const char *nl
        while p < end:
            nl = <const char *>memchr(p, b'\n', end - p)
            if nl == NULL:
                return n + 1  # a last line without its newline yet
            if nl > p and not (nl == p + 1 and p[0] == b'\r'):
                n += 1  # (an empty line is no message)
            p = nl + 1
        return n


# ---------------------------------------------------------------------------------------------
# sinks
#
# A sink writes a whole batch or is interrupted (a signal: the wake-up descriptor is readable)
# part way; then it is `pending` and the next write, or `drain`, goes on from where it stopped.

cdef enum:
    WRITTEN = 0
    FAILED = -1
    INTERRUPTED = -2

globals().update({"WRITTEN": WRITTEN, "FAILED": FAILED, "INTERRUPTED": INTERRUPTED})

DEF PIPE_CHUNK = 4096  # PIPE_BUF: a write this small to a writable pipe does not block


cdef long ms_left(double deadline) noexcept nogil:
    cdef double left
    if deadline < 0:
        return -1
    left = deadline - now_ms()
    return <long>left + 1 if left > 0 else 0


# Opens k.path; returns 0 or -1 with errno set.
cdef int open_path(sink_t *k) noexcept nogil:
    # always O_APPEND: after a copytruncate rotation, writes go to the new end, not past it
    cdef int fd = c_open(k.path, O_WRONLY | O_CREAT | O_CLOEXEC | O_APPEND | (0 if k.append else O_TRUNC),
                         0o666)
    if fd < 0:
        return -1
    if k.fd >= 0:
        close(k.fd)
    k.fd = fd
    k.regular = is_regular(fd)
    k.append = 1  # a file reopened after rotation is never truncated
    return 0


cdef bint is_regular(int fd) noexcept nogil:
    cdef struct_stat st
    return fstat(fd, &st) == 0 and S_ISREG(st.st_mode)


# Whether the file we write to is still the one at its path (not moved away or removed).
cdef bint file_in_place(sink_t *k) noexcept nogil:
    cdef struct_stat a, b
    if stat(k.path, &a) < 0 or fstat(k.fd, &b) < 0:
        return False
    return a.st_ino == b.st_ino and a.st_dev == b.st_dev


# Counts the records of b as sent up to byte `done`, the rest failed.
cdef void fd_account(sink_t *k, batch_t *b, size_t done) noexcept nogil:
    cdef size_t i = 0
    while i < b.n and b.off[i] + b.rec_len[i] < done:
        i += 1
    k.sent += i
    k.failed += b.n - i


cdef int fd_write(sink_t *k, batch_t *b, double deadline) noexcept nogil:
    cdef ssize_t w
    cdef size_t want
    cdef int failed = 0, rc
    cdef int nfds = 2 if g_wake_fd >= 0 else 1
    cdef pollfd fds[2]
    if b.n == 0:
        return WRITTEN
    if k.resume == 0 and k.path != NULL and not file_in_place(k) and open_path(k) < 0:
        k.err = errno
        k.failed += b.n
        return FAILED
    fds[0].fd = k.fd
    fds[0].events = POLLOUT
    fds[1].fd = g_wake_fd
    fds[1].events = POLLIN
    while k.resume < b.data.len:
        want = b.data.len - k.resume
        if not k.regular or deadline >= 0:
            # a pipe or socket can block: wait for room or a signal (draining: never past the deadline)
            fds[0].revents = 0
            fds[1].revents = 0
            rc = poll(fds, nfds, ms_left(deadline))
            if rc < 0 and errno != EINTR:
                k.err = errno
                failed = 1
                break
            if fds[1].revents:
                return INTERRUPTED  # let Python see the signal; the next write goes on from here
            if not fds[0].revents:
                if deadline >= 0 and ms_left(deadline) == 0:
                    k.err = ETIMEDOUT  # the reader took none of the rest in time
                    failed = 1
                    break
                continue
            if deadline >= 0 and want > PIPE_CHUNK:
                want = PIPE_CHUNK  # so small that it cannot block
        w = write(k.fd, b.data.p + k.resume, want)
        if w >= 0:
            k.resume += w
        elif errno != EINTR and errno != EAGAIN:
            k.err = errno
            failed = 1
            break
    fd_account(k, b, k.resume)
    k.resume = 0
    return FAILED if failed else WRITTEN


# Reads what the socket's monitor said: which connections (by descriptor) came and went.
cdef void read_monitor(sink_t *k) noexcept nogil:
    cdef mp_zmq_msg_t msg
    cdef const unsigned char *p
    cdef unsigned event, fd, i
    if k.monitor == NULL:
        return
    mp_zmq.msg_init(&msg)
    while mp_zmq.msg_recv(&msg, k.monitor, MP_ZMQ_DONTWAIT) >= 0:
        if mp_zmq.msg_more(&msg) and mp_zmq.msg_size(&msg) >= 6:  # event, value; the address follows
            p = <const unsigned char *>mp_zmq.msg_data(&msg)
            event = p[0] | (p[1] << 8)
            fd = p[2] | (p[3] << 8) | (p[4] << 16) | (<unsigned>p[5] << 24)
            if event == MP_ZMQ_EVENT_CONNECTED or event == MP_ZMQ_EVENT_ACCEPTED:
                if k.npeers < MAX_PEERS:
                    k.peers[k.npeers] = fd
                    k.npeers += 1
                k.unconfirmed = 0  # what waited in the queue goes to this peer
            elif event == MP_ZMQ_EVENT_DISCONNECTED or event == MP_ZMQ_EVENT_CLOSED:
                for i in range(k.npeers):
                    if k.peers[i] == fd:
                        k.npeers -= 1
                        k.peers[i] = k.peers[k.npeers]
                        break
    mp_zmq.msg_close(&msg)


cdef void count_subscriptions(sink_t *k) noexcept nogil:
    # an XPUB socket reads (un)subscriptions as messages: first byte 1 subscribes, 0 unsubscribes
    cdef mp_zmq_msg_t msg
    cdef const unsigned char *p
    mp_zmq.msg_init(&msg)
    while mp_zmq.msg_recv(&msg, k.sock, MP_ZMQ_DONTWAIT) >= 0:
        if mp_zmq.msg_size(&msg):
            p = <const unsigned char *>mp_zmq.msg_data(&msg)
            if p[0] == 1:
                k.subscribers += 1
            elif p[0] == 0 and k.subscribers > 0:
                k.subscribers -= 1
    mp_zmq.msg_close(&msg)


cdef int zmq_write(sink_t *k, batch_t *b, double deadline) noexcept nogil:
    cdef int e, failed = 0
    cdef int err = 0
    if b.n == 0:
        return WRITTEN
    read_monitor(k)
    if k.xpub and (k.subscribers == 0 or now_ms() >= k.next_count):
        # (un)subscriptions read at most every millisecond while there are subscribers: reading
        # them costs more than a small send
        count_subscriptions(k)
        k.next_count = now_ms() + 1
        if k.first_wait_ms > 0 and k.subscribers == 0 and deadline < 0:
            # a PUB socket sends only to whom has subscribed: give the first subscriber time to
            # connect and subscribe (once), rather than drop what it would have received
            if k.wait_until == 0:
                k.wait_until = now_ms() + k.first_wait_ms
            while k.subscribers == 0 and now_ms() < k.wait_until:
                if wait_ready(k.sock, -1, ms_left(k.wait_until), &err) == WAKE:
                    return INTERRUPTED
                count_subscriptions(k)
        k.first_wait_ms = 0
        if k.subscribers == 0:
            k.dropped += b.n - k.resume  # nobody to send to
            k.resume = 0
            return WRITTEN
    while k.resume < b.n:
        if mp_zmq.send(k.sock, b.data.p + b.off[k.resume], b.rec_len[k.resume], MP_ZMQ_DONTWAIT) >= 0:
            k.sent += 1
            if k.npeers == 0:
                k.unconfirmed += 1
        else:
            e = mp_zmq.zerrno()
            if e == EINTR:
                continue
            if e == EAGAIN:
                k.dropped += 1
            else:
                k.failed += 1
                k.err = e
                failed = 1
        k.resume += 1
    k.resume = 0
    return FAILED if failed else WRITTEN


cdef int null_write(sink_t *k, batch_t *b, double deadline) noexcept nogil:
    k.sent += b.n
    return WRITTEN


# Writes b to k, or goes on with the batch k was interrupted in; keeps k.pending up to date.
cdef int sink_write(sink_t *k, batch_t *b, double deadline) noexcept nogil:
    cdef int rc = k.write(k, b, deadline)
    k.pending = rc == INTERRUPTED
    return rc


cdef class Sink:
    """Writes batches. Counters: sent, dropped (at the high-water mark or with no peer), failed."""
    cdef sink_t k
    cdef Batch _own     # the batch of write_list
    cdef Batch _batch   # the batch being written (to go on with after an interruption)

    def __cinit__(self):
        self.k.fd = -1
        self.k.write = null_write
        self._own = Batch()

    @property
    def sent(self):
        return self.k.sent

    @property
    def dropped(self):
        return self.k.dropped

    @property
    def failed(self):
        return self.k.failed

    @property
    def pending(self):
        """Whether a write was interrupted part way (`write_on` or `drain` finish it)."""
        return bool(self.k.pending)

    def take_error(self):
        """The errno of the last failure not yet taken, or 0."""
        e = self.k.err
        self.k.err = 0
        return e

    cdef int _write(self, Batch batch, double deadline):
        cdef int rc
        self._batch = batch
        with nogil:
            rc = sink_write(&self.k, &batch.b, deadline)
        return rc

    def write(self, Batch batch):
        """Writes every record of `batch`: WRITTEN (0), FAILED (-1: see take_error) or
        INTERRUPTED (-2: a signal came; call write_on to go on)."""
        return self._write(batch, -1)

    def write_list(self, records, long timeout_ms=-1):
        """Writes a list of records (bytes, without newlines); as `write`. With timeout_ms >= 0,
        what a blocked reader has not taken by then is counted as failed (FAILED, ETIMEDOUT)."""
        batch_clear(&self._own.b)
        for r in records:
            self._own.add(r)
        return self._write(self._own, now_ms() + timeout_ms if timeout_ms >= 0 else -1)

    def write_one(self, bytes record):
        """Writes one record (for the logging handler: no list to make per record); as `write`."""
        batch_clear(&self._own.b)
        if batch_add(&self._own.b, PyBytes_AS_STRING(record), PyBytes_GET_SIZE(record)) < 0:
            raise MemoryError()
        if self.k.write == zmq_write and self.k.first_wait_ms == 0:
            # one send that never waits: releasing the GIL for it would cost more than the send
            self._batch = self._own
            return sink_write(&self.k, &self._own.b, -1)
        return self._write(self._own, -1)

    def write_on(self):
        """Goes on with an interrupted write."""
        return self._write(self._batch, -1) if self.k.pending else WRITTEN

    def drain(self, long timeout_ms):
        """Finishes an interrupted write within timeout_ms (never waiting for subscribers); what
        cannot be written by then is counted as failed. INTERRUPTED if a signal came first."""
        cdef int rc = WRITTEN
        if self.k.pending:
            rc = self._write(self._batch, now_ms() + max(timeout_ms, 0))
        if rc == INTERRUPTED:
            return rc
        self.k.pending = 0
        return rc


cdef class NullSink(Sink):
    """Discards, counting."""


cdef class FdSink(Sink):
    """Writes one record a line to a file descriptor (standard output or error)."""

    def __init__(self, int fd):
        self.k.fd = fd
        self.k.regular = is_regular(fd)
        self.k.write = fd_write


cdef class FileSink(Sink):
    """Appends one record a line to a file, following it by path: a file moved away or removed
    (log rotation) is reopened at its path before the next write."""
    cdef bytes _path

    def __init__(self, path, bint append=True):
        import os
        self._path = os.fsencode(path)
        self.k.path = self._path
        self.k.append = append
        self.k.write = fd_write
        if open_path(&self.k) < 0:
            raise OSError(errno, strerror(errno).decode(), path)

    def reopen(self):
        """Opens the path anew (after log rotation)."""
        if open_path(&self.k) < 0:
            raise OSError(errno, strerror(errno).decode(), self._path.decode(errors="replace"))

    def close(self):
        if self.k.fd >= 0:
            close(self.k.fd)
            self.k.fd = -1

    def __dealloc__(self):
        if self.k.fd >= 0:
            close(self.k.fd)


cdef class ZmqSink(Sink):
    """Sends one frame a record on a ZeroMQ socket without ever blocking. An XPUB socket (our PUB)
    waits up to `first_wait_ms`, once, for a first subscriber, and counts what it sends while
    nobody subscribes as dropped. With the socket's `monitor` (a pyzmq monitor socket for
    connections made, accepted, closed and lost), it knows when no peer is connected: what it
    queues then is `unconfirmed` until a peer connects, and lost if none does before the end."""
    cdef object _socket, _monitor

    def __init__(self, socket, *, bint xpub=False, long first_wait_ms=0, monitor=None):
        self._socket = socket
        self._monitor = monitor
        self.k.sock = <void *><size_t>socket.underlying
        self.k.monitor = <void *><size_t>monitor.underlying if monitor is not None else NULL
        self.k.xpub = xpub
        self.k.first_wait_ms = first_wait_ms
        self.k.write = zmq_write

    @property
    def subscribers(self):
        """Subscriptions of a PUB (XPUB) socket, as it has read them so far."""
        return self.k.subscribers

    def poll_subscribers(self):
        """Reads the subscriptions that came; returns how many there are."""
        count_subscriptions(&self.k)
        return self.k.subscribers

    def detach(self):
        """Forgets the socket before it is closed: a write still under way (a signal handler closed
        it in the middle) then fails, counted, instead of touching a freed socket."""
        self.k.sock = NULL
        self.k.monitor = NULL

    def writable(self):
        """Whether the socket would take a message now (a PUSH: room below the high-water mark)."""
        cdef mp_zmq_pollitem_t item
        if self.k.sock == NULL:
            return False
        item.socket = self.k.sock
        item.fd = 0
        item.events = MP_ZMQ_POLLOUT
        item.revents = 0
        return mp_zmq.poll(&item, 1, 0) > 0

    @property
    def peers(self):
        """Peers connected now, as the monitor says."""
        read_monitor(&self.k)
        return self.k.npeers

    @property
    def unconfirmed(self):
        """Messages queued while no peer was connected, and none has connected since."""
        read_monitor(&self.k)
        return self.k.unconfirmed


# ---------------------------------------------------------------------------------------------

def set_wake_fd(int fd):
    """The descriptor (signal.set_wakeup_fd's pipe) whose readability makes every wait of the
    core return: the loop, sinks blocked on a slow reader, a PUB waiting for its subscriber."""
    global g_wake_fd
    g_wake_fd = fd


def pump(Source source, sinks, Batch batch, int timeout_ms=-1):
    """Moves batches from `source` to every sink, without the GIL, until the source ends (EOF) or
    fails (ERROR), a signal comes (WAKE), inputs were rejected (REJECTED: they are in `batch`), or
    a sink failed (SINK_ERROR); with a timeout, also when nothing came (OK). A batch that a signal
    interrupted is finished first when pump is called again (with the same batch)."""
    cdef list ks = list(sinks)
    cdef size_t i, n = len(ks)
    cdef sink_t **arr = <sink_t **>malloc((n + 1) * sizeof(sink_t *))
    cdef int st = OK, rc, failed = 0, interrupted = 0, filled = 0
    cdef Sink sink
    if arr == NULL:
        raise MemoryError()
    for i in range(n):
        sink = ks[i]
        sink._batch = batch
        arr[i] = &sink.k
    with nogil:
        while True:
            for i in range(n):  # finish the batch on every sink (the one a signal interrupted, first)
                if arr[i].pending:
                    rc = sink_write(arr[i], &batch.b, -1)
                    if rc == INTERRUPTED:
                        interrupted = 1
                        break
                    failed |= rc == FAILED
            if interrupted:
                st = WAKE
                break
            if failed:
                st = SINK_ERROR if st == OK else st
                break
            if (filled and st != OK) or batch.b.nr:  # (rejects: once the batch is written)
                st = REJECTED if st == OK else st
                break
            if filled and woken():
                # a signal, between batches: a source that never runs dry (a flood, a file on
                # STDIN) would otherwise not see it until the end
                st = WAKE
                break
            st = source.s.fill(&source.s, &batch.b, timeout_ms)
            filled = 1
            if batch.b.n == 0 and st == OK and timeout_ms >= 0:
                break
            for i in range(n):
                arr[i].pending = 1
    free(arr)
    return st


cdef class Context:
    """A libzmq context that the core terminates (pyzmq shadows it to make sockets): so that
    waiting for the sockets' linger can be interrupted by a signal, and then resumed."""
    cdef void *ctx

    def __cinit__(self):
        self.ctx = mp_zmq.ctx_new()
        if self.ctx == NULL:
            raise OSError(mp_zmq.zerrno(), "cannot create a ZeroMQ context")

    @property
    def address(self):
        return <size_t>self.ctx

    def term(self, bint any_signal=False):
        """Waits until every socket is closed and has delivered or given up (its linger); returns
        False if a signal came first (the CLI's wake-up, or with any_signal any one: an
        application's Ctrl-C), to call again to go on waiting."""
        cdef int rc, e
        if self.ctx == NULL:
            return True
        with nogil:
            while True:
                rc = mp_zmq.ctx_term(self.ctx)
                e = mp_zmq.zerrno() if rc < 0 else 0
                if rc == 0 or e != EINTR or any_signal or woken():
                    break
        if rc == 0 or e != EINTR:
            self.ctx = NULL
            return True
        return False
