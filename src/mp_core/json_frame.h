/* JSON framing and validation with simdjson, behind a C interface for the Cython core. */
#ifndef MP_JSON_FRAME_H
#define MP_JSON_FRAME_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MP_JSON_PADDING 64 /* SIMDJSON_PADDING: readable bytes needed after a document */

/* EXOTIC: valid, but has a number beyond a 64-bit integer or a double (needs an exact decoder) */
enum { MP_JSON_OBJECT = 1, MP_JSON_EMPTY = 2, MP_JSON_HAS_KEY = 4, MP_JSON_EXOTIC = 8 };

typedef struct mp_json mp_json;

mp_json *mp_json_new(void);
void mp_json_free(mp_json *j);

/* Validates buf[0:len) (followed by MP_JSON_PADDING readable bytes): UTF-8, syntax, and a top-level
 * object or array. Returns 0 and sets *flags (MP_JSON_*; HAS_KEY tells whether the object already
 * has `key`), or returns nonzero and sets *why to a static description. A leading UTF-8 byte order
 * mark is refused: the caller strips the one an input may start with. */
int mp_json_check(mp_json *j, const char *buf, size_t len, const char *key, size_t keylen,
                  int *flags, const char **why);

/* Writes buf[0:len) without insignificant whitespace to out (room for len bytes); returns the length. */
size_t mp_json_minify(const char *buf, size_t len, char *out);

/* For a document mp_json_check accepted: 1 if it certainly has no whitespace outside strings (so
 * minifying would not change it), 0 if it may. Reads up to 15 bytes past len (padding). */
int mp_json_compact(const char *buf, size_t len);

int mp_utf8_valid(const char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
