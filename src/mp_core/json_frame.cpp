#include "json_frame.h"
#include "simdjson.h"
#include <cstring>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <string>
#include <string_view>

static_assert(MP_JSON_PADDING == simdjson::SIMDJSON_PADDING, "padding must match simdjson");

struct mp_json {
    simdjson::dom::parser parser;
};

static const size_t KEEP_CAPACITY = 1 << 20; /* give back what a huge document made the parser grow to */

extern "C" mp_json *mp_json_new(void)
{
    try {
        return new mp_json();
    } catch (...) {
        return nullptr;
    }
}

extern "C" void mp_json_free(mp_json *j) { delete j; }

/* What the error chain says of a document simdjson refused: short, and naming the fault. */
static const char *describe(simdjson::error_code err)
{
    switch (err) {
    case simdjson::UTF8_ERROR: return "not valid UTF-8";
    case simdjson::EMPTY: return "no JSON text (empty or only whitespace)";
    case simdjson::TAPE_ERROR: return "not valid JSON: misplaced or missing commas, colons, brackets or braces";
    case simdjson::STRING_ERROR: return "not valid JSON: bad string (a bad escape or a lone surrogate)";
    case simdjson::UNESCAPED_CHARS: return "not valid JSON: control character not escaped in a string";
    case simdjson::UNCLOSED_STRING: return "not valid JSON: string not closed";
    case simdjson::NUMBER_ERROR:
    case simdjson::BIGINT_ERROR: return "not valid JSON: bad number";
    case simdjson::T_ATOM_ERROR:
    case simdjson::F_ATOM_ERROR:
    case simdjson::N_ATOM_ERROR: return "not valid JSON: bad literal (true, false or null expected)";
    case simdjson::DEPTH_ERROR: return "JSON nested deeper than 1024 levels";
    case simdjson::CAPACITY: return "JSON document too large";
    default: return simdjson::error_message(err);
    }
}

/* A strict RFC 8259 validator for what simdjson refuses only because it will not represent a
 * number (integers beyond 64 bits, 1e400): such documents are valid JSON and must pass. */
namespace {
struct Strict {
    const unsigned char *p, *end;
    int depth = 0;
    const char *key;
    size_t keylen;
    int flags = 0;
    simdjson::error_code fault = simdjson::TAPE_ERROR; /* the first fault found, for its description */

    bool fail(simdjson::error_code e) {
        fault = e;
        return false;
    }
    void ws() { while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++; }
    bool lit(const char *w, size_t n) {
        if ((size_t)(end - p) < n || memcmp(p, w, n) != 0) return fail(simdjson::T_ATOM_ERROR);
        p += n;
        return true;
    }
    static int hex(unsigned char c) {
        if (c >= '0' && c <= '9') return c - '0';
        c |= 0x20;
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    }
    bool u4(unsigned *v) {
        if (end - p < 4) return false;
        *v = 0;
        for (int i = 0; i < 4; i++) {
            int h = hex(p[i]);
            if (h < 0) return false;
            *v = *v * 16 + h;
        }
        p += 4;
        return true;
    }
    bool str() {  /* at the opening quote; the whole text is already known to be UTF-8 */
        p++;
        while (p < end) {
            unsigned char c = *p++;
            if (c == '"') return true;
            if (c < 0x20) return fail(simdjson::UNESCAPED_CHARS);
            if (c != '\\') continue;
            if (p >= end) break;
            c = *p++;
            if (c == 'u') {
                unsigned v, w;
                if (!u4(&v)) return fail(simdjson::STRING_ERROR);
                if (v >= 0xDC00 && v <= 0xDFFF) return fail(simdjson::STRING_ERROR);
                if (v >= 0xD800 && v <= 0xDBFF &&
                    !(lit("\\u", 2) && u4(&w) && w >= 0xDC00 && w <= 0xDFFF))
                    return fail(simdjson::STRING_ERROR);
            } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
                return fail(simdjson::STRING_ERROR);
            }
        }
        return fail(simdjson::UNCLOSED_STRING);
    }
    /* Whether the key written at [k, e) (escapes and all) is `key`. */
    bool same_key(const unsigned char *k, const unsigned char *e) {
        if (!memchr(k, '\\', e - k))
            return (size_t)(e - k) == keylen && memcmp(k, key, keylen) == 0;
        std::string plain;
        while (k < e) {
            if (*k != '\\') {
                plain += (char)*k++;
                continue;
            }
            unsigned char c = k[1];
            k += 2;
            if (c != 'u') {
                plain += c == 'b' ? '\b' : c == 'f' ? '\f' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : (char)c;
                continue;
            }
            unsigned v = 0;
            for (int i = 0; i < 4; i++) v = v * 16 + hex(k[i]);
            k += 4;
            if (v >= 0xD800 && v <= 0xDBFF) { /* a pair, as str() checked */
                unsigned w = 0;
                for (int i = 2; i < 6; i++) w = w * 16 + hex(k[i]);
                k += 6;
                v = 0x10000 + ((v - 0xD800) << 10) + (w - 0xDC00);
            }
            if (v < 0x80) plain += (char)v;
            else if (v < 0x800) { plain += (char)(0xC0 | v >> 6); plain += (char)(0x80 | (v & 63)); }
            else if (v < 0x10000) { plain += (char)(0xE0 | v >> 12); plain += (char)(0x80 | (v >> 6 & 63)); plain += (char)(0x80 | (v & 63)); }
            else { plain += (char)(0xF0 | v >> 18); plain += (char)(0x80 | (v >> 12 & 63)); plain += (char)(0x80 | (v >> 6 & 63)); plain += (char)(0x80 | (v & 63)); }
        }
        return plain.size() == keylen && memcmp(plain.data(), key, keylen) == 0;
    }
    bool digits() {
        const unsigned char *s = p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        return p > s;
    }
    bool num() {
        if (p < end && *p == '-') p++;
        if (p < end && *p == '0') {
            if (++p < end && *p >= '0' && *p <= '9') return fail(simdjson::NUMBER_ERROR);  /* 01 */
        } else if (!digits()) {
            return fail(simdjson::NUMBER_ERROR);
        }
        if (p < end && *p == '.' && (++p, !digits())) return fail(simdjson::NUMBER_ERROR);
        if (p < end && (*p == 'e' || *p == 'E')) {
            p++;
            if (p < end && (*p == '+' || *p == '-')) p++;
            if (!digits()) return fail(simdjson::NUMBER_ERROR);
        }
        return true;
    }
    bool value() {  /* at nesting level depth + 1: simdjson refuses any value deeper than 1024 */
        ws();
        if (p >= end) return false;
        if (depth >= 1024) return fail(simdjson::DEPTH_ERROR);
        switch (*p) {
        case '{': return container('}');
        case '[': return container(']');
        case '"': return str();
        case 't': return lit("true", 4);
        case 'f': return lit("false", 5);
        case 'n': return lit("null", 4);
        default: return *p == '-' || (*p >= '0' && *p <= '9') ? num() : fail(simdjson::TAPE_ERROR);
        }
    }
    bool container(char close) {
        ++depth;
        bool top = depth == 1, first = true;
        p++;
        for (;;) {
            ws();
            if (p < end && *p == close) {
                p++;
                if (top && first && close == '}') flags |= MP_JSON_EMPTY;
                depth--;
                return true;
            }
            if (!first && !(p < end && *p++ == ',')) return false;
            if (close == '}') {
                ws();
                const unsigned char *k = p + 1;
                if (p >= end || *p != '"' || !str()) return false;
                if (top && keylen && same_key(k, p - 1))
                    flags |= MP_JSON_HAS_KEY;
                ws();
                if (!(p < end && *p++ == ':')) return false;
            }
            if (!value()) return false;
            first = false;
        }
    }
};
}  // namespace

/* As mp_json_check, for a document simdjson refused for a number. */
static int strict_check(const char *buf, size_t len, const char *key, size_t keylen, int *flags, const char **why)
{
    Strict s;
    s.p = (const unsigned char *)buf;
    s.end = s.p + len;
    s.key = key;
    s.keylen = keylen;
    s.ws();
    bool container = s.p < s.end && (*s.p == '{' || *s.p == '[');
    if (s.p < s.end && *s.p == '{') s.flags |= MP_JSON_OBJECT;
    if (!simdjson::validate_utf8(buf, len)) s.fault = simdjson::UTF8_ERROR;
    else if (s.p >= s.end) s.fault = simdjson::EMPTY;
    else if (s.value() && (s.ws(), s.p == s.end)) {
        if (!container) {
            *why = "JSON text must be an object or array";
            return 2;
        }
        *flags = s.flags | MP_JSON_EXOTIC;
        return 0;
    }
    *why = describe(s.fault);
    return 1;
}

extern "C" int mp_json_check(mp_json *j, const char *buf, size_t len, const char *key, size_t keylen,
                             int *flags, const char **why)
{
    *flags = 0;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) { /* simdjson would skip it and keep it */
        *why = "not valid JSON: a byte order mark not at the start of the input";
        return 1;
    }
    simdjson::dom::element root;
    auto err = j->parser.parse(buf, len, false).get(root);
    int rc = 0;
    if (err == simdjson::BIGINT_ERROR || err == simdjson::NUMBER_ERROR) {
        rc = strict_check(buf, len, key, keylen, flags, why);
    } else if (err) {
        *why = describe(err);
        rc = 1;
    } else if (root.type() == simdjson::dom::element_type::OBJECT) {
        simdjson::dom::object obj = root.get_object().value_unsafe();
        *flags = MP_JSON_OBJECT;
        if (obj.size() == 0)
            *flags |= MP_JSON_EMPTY;
        else if (keylen && obj.at_key(std::string_view(key, keylen)).error() == simdjson::SUCCESS)
            *flags |= MP_JSON_HAS_KEY;
    } else if (root.type() != simdjson::dom::element_type::ARRAY) {
        *why = "JSON text must be an object or array";
        rc = 2;
    }
    if (j->parser.capacity() > KEEP_CAPACITY) {
        auto shrunk = j->parser.allocate(KEEP_CAPACITY);
        (void)shrunk; /* if it fails, the parser keeps what it has */
    }
    return rc;
}

extern "C" size_t mp_json_minify(const char *buf, size_t len, char *out)
{
    size_t n = 0;
    if (simdjson::minify(buf, len, out, n) != simdjson::SUCCESS)
        return 0; /* cannot happen for a document the parser accepted */
    return n;
}

extern "C" int mp_utf8_valid(const char *buf, size_t len) { return simdjson::validate_utf8(buf, len); }

/* In valid JSON, whitespace outside strings can only stand at either end of the text or next to a
 * structural character ({}[],:), since tokens are separated by those. So a valid text whose ends
 * are not whitespace, and in which no whitespace byte touches a structural character, is already
 * minified. Whitespace next to a comma inside a string only makes us minify needlessly. */
extern "C" int mp_json_compact(const char *buf, size_t len)
{
#ifdef __SSE2__
    /* In a valid text the only bytes <= 0x20 are whitespace (raw control characters are invalid). */
    auto ws = [](char c) { return (unsigned char)c <= 0x20; };
    auto st = [](char c) { return c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':'; };
    if (len == 0 || ws(buf[0]) || ws(buf[len - 1]))
        return len == 0;
    const __m128i space = _mm_set1_epi8(0x20), lower = _mm_set1_epi8(0x20), brace_l = _mm_set1_epi8('{'),
                  brace_r = _mm_set1_epi8('}'), comma = _mm_set1_epi8(','), colon = _mm_set1_epi8(':');
    unsigned ws_in = 0; /* the byte before this block is whitespace */
    for (size_t i = 0; i < len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(buf + i));
        unsigned keep = len - i < 16 ? (1u << (len - i)) - 1 : 0xffff; /* past the end: padding */
        unsigned w = keep & _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(v, space), space));
        if (w | ws_in) { /* only blocks with whitespace in or just before them need a closer look */
            __m128i folded = _mm_or_si128(v, lower); /* [ ] become { } */
            unsigned s = keep & _mm_movemask_epi8(
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(folded, brace_l), _mm_cmpeq_epi8(folded, brace_r)),
                             _mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, colon))));
            unsigned st_in = i && st(buf[i - 1]);
            if ((w & ((s << 1) | st_in)) || (s & ((w << 1) | ws_in)))
                return 0;
        }
        ws_in = (w >> 15) & 1;
    }
    return 1;
#else
    (void)buf;
    (void)len;
    return 0;
#endif
}
