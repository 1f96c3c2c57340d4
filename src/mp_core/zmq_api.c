#define _GNU_SOURCE
#include "zmq_api.h"
#include <dlfcn.h>
#include <link.h>
#include <string.h>

mp_zmq_api_t mp_zmq;

static int find_libzmq(struct dl_phdr_info *info, size_t size, void *out)
{
    (void)size;
    const char *name = info->dlpi_name;
    const char *base = name ? strrchr(name, '/') : NULL;
    base = base ? base + 1 : name;
    if (base && strncmp(base, "libzmq", 6) == 0) {
        *(const char **)out = name;
        return 1;
    }
    return 0;
}

const char *mp_zmq_load(void)
{
    const char *path = NULL;
    dl_iterate_phdr(find_libzmq, &path);
    if (!path)
        return "no libzmq is loaded in this process (import zmq first)";
    /* RTLD_NOLOAD: take the copy already mapped, never load a second one. */
    void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (!h)
        return dlerror();
#define SYM(field, name)                                   \
    *(void **)(&mp_zmq.field) = dlsym(h, name);            \
    if (!mp_zmq.field)                                     \
        return "libzmq lacks " name;
    SYM(msg_init, "zmq_msg_init")
    SYM(msg_close, "zmq_msg_close")
    SYM(msg_recv, "zmq_msg_recv")
    SYM(msg_data, "zmq_msg_data")
    SYM(msg_size, "zmq_msg_size")
    SYM(msg_more, "zmq_msg_more")
    SYM(send, "zmq_send")
    SYM(poll, "zmq_poll")
    SYM(zerrno, "zmq_errno")
    SYM(strerror, "zmq_strerror")
    SYM(version, "zmq_version")
    SYM(ctx_new, "zmq_ctx_new")
    SYM(ctx_term, "zmq_ctx_term")
#undef SYM
    return NULL;
}
