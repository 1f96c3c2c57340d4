// libFuzzer target over src/mp_core/json_frame.cpp: simdjson validation (mp_json_check), the strict
// fallback validator for documents simdjson refuses only for their numbers, mp_json_minify,
// mp_json_compact and mp_utf8_valid.
//
// Built by tests/fuzz/run.sh with clang -fsanitize=fuzzer,address,undefined (LeakSanitizer included)
// together with simdjson's amalgamation. json_frame.cpp is #included rather than linked so that its
// file-local strict validator (`strict_check`) can be checked on every input, not only on the few
// that simdjson refuses for their numbers.
//
// The whole fuzz input is the document (so corpus files are plain JSON, or not). Every input is
// checked against an independent reference validator written here (RFC 8259, UTF-8 per RFC 3629,
// numbers of any magnitude, nesting up to 1024 levels where a value counts one level more than the
// containers around it (simdjson's rule), a top-level object or array; no byte order mark: the core
// strips one before calling mp_json_check):
//   - mp_json_check accepts   <=> the reference accepts; flags (OBJECT, EMPTY, HAS_KEY) agree with it;
//   - strict_check accepts    <=> the reference accepts, with the same flags (plus EXOTIC);
//   - a refusal gives a reason; rc 2 (not an object or array) only for a valid scalar document;
//   - for an accepted document, mp_json_minify gives exactly the reference minification (whitespace
//     outside strings removed), which is accepted again with the same flags, and minifies to itself;
//   - mp_json_compact == 1  =>  mp_json_minify returns the input unchanged;
//   - mp_utf8_valid agrees with the reference UTF-8 decoder;
//   - what lies in the padding (the input's own bytes, or bytes that look like more JSON) changes
//     nothing: the same result, reason, flags, minified text and compact verdict.
// HAS_KEY is checked for the key "topic" and for the (unescaped) last top-level key of the document.
#include "json_frame.cpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace ref {

// RFC 3629 UTF-8, written from the table (no simdjson code).
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c == 0xE0) { need = 2; lo = 0xA0; }
        else if (c >= 0xE1 && c <= 0xEC) need = 2;
        else if (c == 0xED) { need = 2; hi = 0x9F; }
        else if (c >= 0xEE && c <= 0xEF) need = 2;
        else if (c == 0xF0) { need = 3; lo = 0x90; }
        else if (c >= 0xF1 && c <= 0xF3) need = 3;
        else if (c == 0xF4) { need = 3; hi = 0x8F; }
        else return false;
        if (n - i <= need) return false;
        if (s[i + 1] < lo || s[i + 1] > hi) return false;
        for (size_t k = 2; k <= need; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return false;
        i += need + 1;
    }
    return true;
}

static void put_utf8(std::string &o, uint32_t cp)
{
    if (cp < 0x80) o += (char)cp;
    else if (cp < 0x800) { o += (char)(0xC0 | cp >> 6); o += (char)(0x80 | (cp & 63)); }
    else if (cp < 0x10000) {
        o += (char)(0xE0 | cp >> 12); o += (char)(0x80 | (cp >> 6 & 63)); o += (char)(0x80 | (cp & 63));
    } else {
        o += (char)(0xF0 | cp >> 18); o += (char)(0x80 | (cp >> 12 & 63));
        o += (char)(0x80 | (cp >> 6 & 63)); o += (char)(0x80 | (cp & 63));
    }
}

struct Result {
    bool valid = false;      // a JSON text (any root), valid UTF-8, no value deeper than 1024
    bool container = false;  // its root is an object or an array
    bool object = false;
    bool empty_object = false;
    int max_depth = 0;
    std::vector<std::string> top_keys;      // unescaped
    std::string minified;
};

// A recursive-descent parser with an explicit index, independent of json_frame.cpp's Strict.
class Parser {
  public:
    Parser(const uint8_t *s, size_t n) : s_(s), n_(n) {}

    Result run()
    {
        Result r;
        if (!utf8_valid(s_, n_)) return r;
        skip_ws();
        if (i_ >= n_) return r;
        r.container = s_[i_] == '{' || s_[i_] == '[';
        r.object = s_[i_] == '{';
        res_ = &r;
        if (!value(0)) return Result();
        skip_ws();
        if (i_ != n_) return Result();
        r.valid = true;
        r.max_depth = max_depth_;
        r.minified = out_;
        return r;
    }

  private:
    const uint8_t *s_;
    size_t n_, i_ = 0;
    int max_depth_ = 0;
    std::string out_;
    Result *res_ = nullptr;

    static bool is_ws(uint8_t c) { return c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D; }
    void skip_ws() { while (i_ < n_ && is_ws(s_[i_])) i_++; }
    bool eat(char c)
    {
        if (i_ < n_ && s_[i_] == (uint8_t)c) { out_ += c; i_++; return true; }
        return false;
    }
    static int hexval(uint8_t c)
    {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }
    bool hex4(uint32_t &v)
    {
        if (n_ - i_ < 4) return false;
        v = 0;
        for (int k = 0; k < 4; k++) {
            int h = hexval(s_[i_ + k]);
            if (h < 0) return false;
            v = v * 16 + (uint32_t)h;
        }
        i_ += 4;
        return true;
    }
    // A string; its unescaped UTF-8 in *dec.
    bool string(std::string *dec)
    {
        size_t start = i_;
        if (!(i_ < n_ && s_[i_] == '"')) return false;
        i_++;
        for (;;) {
            if (i_ >= n_) return false;
            uint8_t c = s_[i_];
            if (c == '"') { i_++; break; }
            if (c < 0x20) return false;
            if (c != '\\') { if (dec) *dec += (char)c; i_++; continue; }
            i_++;
            if (i_ >= n_) return false;
            c = s_[i_++];
            switch (c) {
            case '"': if (dec) *dec += '"'; break;
            case '\\': if (dec) *dec += '\\'; break;
            case '/': if (dec) *dec += '/'; break;
            case 'b': if (dec) *dec += '\b'; break;
            case 'f': if (dec) *dec += '\f'; break;
            case 'n': if (dec) *dec += '\n'; break;
            case 'r': if (dec) *dec += '\r'; break;
            case 't': if (dec) *dec += '\t'; break;
            case 'u': {
                uint32_t v, w;
                if (!hex4(v)) return false;
                if (v >= 0xDC00 && v <= 0xDFFF) return false;  // a low surrogate alone
                if (v >= 0xD800 && v <= 0xDBFF) {
                    if (!(n_ - i_ >= 2 && s_[i_] == '\\' && s_[i_ + 1] == 'u')) return false;
                    i_ += 2;
                    if (!hex4(w) || w < 0xDC00 || w > 0xDFFF) return false;
                    v = 0x10000 + ((v - 0xD800) << 10) + (w - 0xDC00);
                }
                if (dec) put_utf8(*dec, v);
                break;
            }
            default: return false;
            }
        }
        out_.append((const char *)s_ + start, i_ - start);
        return true;
    }
    bool digits()
    {
        size_t k = i_;
        while (i_ < n_ && s_[i_] >= '0' && s_[i_] <= '9') out_ += (char)s_[i_++];
        return i_ > k;
    }
    bool number()
    {
        eat('-');
        if (i_ < n_ && s_[i_] == '0') eat('0');
        else if (!(i_ < n_ && s_[i_] >= '1' && s_[i_] <= '9') || !digits()) return false;
        if (eat('.') && !digits()) return false;
        if (eat('e') || eat('E')) {
            if (!eat('+')) eat('-');
            if (!digits()) return false;
        }
        return true;
    }
    bool word(const char *w)
    {
        size_t l = strlen(w);
        if (n_ - i_ < l || memcmp(s_ + i_, w, l) != 0) return false;
        out_.append(w, l);
        i_ += l;
        return true;
    }
    bool value(int depth)
    {
        skip_ws();
        if (i_ >= n_) return false;
        uint8_t c = s_[i_];
        if (depth + 1 > 1024) return false;  // this value's level
        if (depth + 1 > max_depth_) max_depth_ = depth + 1;
        if (c == '{' || c == '[') return c == '{' ? object(depth + 1) : array(depth + 1);
        if (c == '"') return string(nullptr);
        if (c == 't') return word("true");
        if (c == 'f') return word("false");
        if (c == 'n') return word("null");
        return number();
    }
    bool array(int depth)
    {
        eat('[');
        skip_ws();
        if (eat(']')) return true;
        for (;;) {
            if (!value(depth)) return false;
            skip_ws();
            if (eat(']')) return true;
            if (!eat(',')) return false;
        }
    }
    bool object(int depth)
    {
        eat('{');
        skip_ws();
        if (eat('}')) {
            if (depth == 1) res_->empty_object = true;
            return true;
        }
        for (;;) {
            skip_ws();
            std::string key;
            if (!string(&key)) return false;
            if (depth == 1) res_->top_keys.push_back(key);
            skip_ws();
            if (!eat(':')) return false;
            if (!value(depth)) return false;
            skip_ws();
            if (eat('}')) return true;
            if (!eat(',')) return false;
        }
    }
};

}  // namespace ref

static mp_json *g_json = nullptr;

static void dump(const char *kind, const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "\n=== json_frame_fuzz: %s%s\n=== input (%zu bytes): ", kind, what, size);
    for (size_t i = 0; i < size && i < 512; i++) {
        uint8_t c = data[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') fputc(c, stderr);
        else fprintf(stderr, "\\x%02x", c);
    }
    fprintf(stderr, "%s\n", size > 512 ? "..." : "");
}

#define CHECK(cond, what)                                                                    \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            dump("invariant violated: ", what, data, size);                                  \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

// A buffer holding `n` bytes followed by MP_JSON_PADDING readable bytes of `fill`.
struct Padded {
    std::vector<char> v;
    Padded(const void *p, size_t n, const uint8_t *fill, size_t fill_n) : v(n + MP_JSON_PADDING)
    {
        if (n) memcpy(v.data(), p, n);
        for (size_t i = 0; i < MP_JSON_PADDING; i++)  // the padding is not ours to rely on: junk
            v[n + i] = fill_n ? (char)fill[i % fill_n] : ' ';
    }
    const char *p() const { return v.data(); }
};

static std::string minify(const char *buf, size_t n)
{
    // exactly `n` bytes of room, as json_frame.h promises is enough (ASan checks it)
    char *out = (char *)malloc(n ? n : 1);
    size_t m = mp_json_minify(buf, n, out);
    std::string s(out, m);
    free(out);
    return s;
}

static const int FLAG_MASK = MP_JSON_OBJECT | MP_JSON_EMPTY | MP_JSON_HAS_KEY;

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    g_json = mp_json_new();
    if (!g_json) abort();
    // The parser gives back what a huge document made it grow to: exercise that path once.
    std::string big = "[";
    while (big.size() < (3u << 20)) big += "\"0123456789abcdef\",";
    big += "1]";
    int flags;
    const char *why = nullptr;
    Padded pb(big.data(), big.size(), nullptr, 0);
    if (mp_json_check(g_json, pb.p(), big.size(), "topic", 5, &flags, &why) != 0) abort();
    Padded ps("{\"a\":1}", 7, nullptr, 0);
    if (mp_json_check(g_json, ps.p(), 7, "topic", 5, &flags, &why) != 0 || flags != MP_JSON_OBJECT) abort();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Padded in(data, size, data, size);
    static const uint8_t junk[] = "1e\"a]} ,\\u0\xff\x00\tx:";  // padding that looks like more JSON
    Padded in2(data, size, junk, sizeof junk - 1);
    ref::Result r = ref::Parser(data, size).run();
    bool expect = r.valid && r.container;

    CHECK((mp_utf8_valid(in.p(), size) != 0) == ref::utf8_valid(data, size), "mp_utf8_valid disagrees with the reference");

    std::vector<std::string> keys = {"topic"};
    if (!r.top_keys.empty()) keys.push_back(r.top_keys.back());

    int first_flags = -1;
    for (const std::string &key : keys) {
        int flags = -1;
        const char *why = nullptr;
        int rc = mp_json_check(g_json, in.p(), size, key.data(), key.size(), &flags, &why);
        {  // what lies in the padding makes no difference
            int flags2 = -1;
            const char *why2 = nullptr;
            int rc2 = mp_json_check(g_json, in2.p(), size, key.data(), key.size(), &flags2, &why2);
            CHECK(rc2 == rc && (rc ? why2 == why : flags2 == flags), "the padding's content changes mp_json_check");
        }
        CHECK((rc == 0) == expect, expect ? "mp_json_check refused a valid object/array"
                                          : "mp_json_check accepted what is not a valid object/array");
        int sflags = -1;
        const char *swhy = nullptr;
        int src = strict_check(in.p(), size, key.data(), key.size(), &sflags, &swhy);
        CHECK((src == 0) == expect, expect ? "strict_check refused a valid object/array"
                                           : "strict_check accepted what is not a valid object/array");
        CHECK(src == 0 || (swhy && *swhy), "a strict refusal without a reason");
        CHECK(src != 2 || (r.valid && !r.container), "strict rc 2 (not an object or array) for an invalid text");
        CHECK(src == 2 || !(r.valid && !r.container), "a valid scalar text without strict rc 2");
        if (rc) {
            CHECK(why != nullptr && *why, "a refusal without a reason");
            CHECK(rc == 1 || rc == 2, "mp_json_check returned an unknown code");
            if (rc == 2) CHECK(r.valid && !r.container, "rc 2 (not an object or array) for an invalid text");
            continue;
        }
        bool has_key = false;  // keys compared unescaped
        for (size_t i = 0; i < r.top_keys.size(); i++)
            has_key |= !key.empty() && r.top_keys[i] == key;
        int want = (r.object ? MP_JSON_OBJECT : 0) | (r.empty_object ? MP_JSON_EMPTY : 0) |
                   (has_key ? MP_JSON_HAS_KEY : 0);
        CHECK((flags & ~(FLAG_MASK | MP_JSON_EXOTIC)) == 0, "mp_json_check set unknown flags");
        CHECK((sflags & MP_JSON_EXOTIC) != 0, "strict_check did not set EXOTIC");
        CHECK((flags & FLAG_MASK) == want, "mp_json_check flags disagree with the reference");
        CHECK((sflags & FLAG_MASK) == want, "strict_check flags disagree with the reference");
        if (first_flags < 0) first_flags = flags;
    }
    if (!expect) {
        (void)minify(in.p(), size);  // never used on such input, but must not crash either
        (void)mp_json_compact(in.p(), size);
        return 0;
    }

    std::string m = minify(in.p(), size);
    CHECK(m == r.minified, "mp_json_minify differs from the reference minification");
    CHECK(minify(in2.p(), size) == m, "the padding's content changes mp_json_minify");
    CHECK(mp_json_compact(in.p(), size) == mp_json_compact(in2.p(), size), "the padding's content changes mp_json_compact");
    if (mp_json_compact(in.p(), size))
        CHECK(m.size() == size && memcmp(m.data(), data, size) == 0,
              "mp_json_compact said 1 but minifying changes the text");
    Padded pm(m.data(), m.size(), data, size);
    int flags2 = -1;
    const char *why2 = nullptr;
    int rc2 = mp_json_check(g_json, pm.p(), m.size(), keys[0].data(), keys[0].size(), &flags2, &why2);
    CHECK(rc2 == 0, "the minified text is refused");
    CHECK(flags2 == first_flags, "the minified text has other flags");
    CHECK(minify(pm.p(), m.size()) == m, "minifying is not idempotent");
    if (mp_json_compact(pm.p(), m.size()) == 0) {
        // allowed (whitespace next to , or : inside a string), but only then
        bool ws_in_string = false;
        for (char c : m) ws_in_string |= (unsigned char)c <= 0x20;
        CHECK(ws_in_string, "mp_json_compact said 0 for a minified text without whitespace");
    }
    return 0;
}
