/* SPDX-License-Identifier: MIT */
/* Strictness checks json-c does not make, run over JSON text: UTF-8 that is
 * well formed in the sense of RFC 3629 (json-c lets overlong forms, surrogates
 * and code points above U+10FFFF through), and a second pass over text json-c
 * accepted that finds duplicate keys (json-c keeps the last one silently), keys
 * with NUL characters (json-c cuts them short), single-quoted strings (accepted
 * even in strict mode) and integers beyond 64 bits (json-c saturates them).
 * Problems are reported with the JSON path. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Offset of the first byte that is not well-formed UTF-8, or len. */
static size_t utf8_bad_offset(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned int cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return i; /* continuation byte, C0/C1 (overlong) or F5..FF */
        }
        if (len - i <= n)
            return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += n + 1;
    }
    return len;
}

struct scan {
    const char *s;
    size_t i, n;
    char *path;
    size_t pathlen;
    char *why;
    size_t whylen;
};

static bool fail(struct scan *sc, const char *path, const char *why)
{
    if (snprintf(sc->path, sc->pathlen, "%s", path) >= (int)sc->pathlen)
        sc->path[sc->pathlen - 1] = 0;
    snprintf(sc->why, sc->whylen, "%s", why);
    return false;
}

static void ws(struct scan *sc)
{
    while (sc->i < sc->n && sc->s[sc->i] && strchr(" \t\r\n", sc->s[sc->i]))
        sc->i++;
}

static unsigned int hex4(const char *p)
{
    unsigned int v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        v = v * 16 + (unsigned int)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* Decode the string at sc->i (on the opening quote) into out, which has room
 * for the decoded text (never longer than the JSON text) plus a NUL; *len is
 * the decoded length. The text is valid JSON, so escapes are well formed. */
static void string(struct scan *sc, char *out, size_t *len)
{
    size_t o = 0;
    sc->i++;
    while (sc->i < sc->n && sc->s[sc->i] != '"') {
        char c = sc->s[sc->i++];
        if (c != '\\' || sc->i >= sc->n) {
            out[o++] = c;
            continue;
        }
        char e = sc->s[sc->i++];
        unsigned int cp;
        switch (e) {
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u':
            if (sc->i + 4 > sc->n)
                break;
            cp = hex4(sc->s + sc->i);
            sc->i += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && sc->i + 6 <= sc->n && sc->s[sc->i] == '\\' &&
                sc->s[sc->i + 1] == 'u') {
                unsigned int lo = hex4(sc->s + sc->i + 2);
                if (lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    sc->i += 6;
                }
            }
            if (cp < 0x80) {
                out[o++] = (char)cp;
            } else if (cp < 0x800) {
                out[o++] = (char)(0xc0 | cp >> 6);
                out[o++] = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                out[o++] = (char)(0xe0 | cp >> 12);
                out[o++] = (char)(0x80 | (cp >> 6 & 0x3f));
                out[o++] = (char)(0x80 | (cp & 0x3f));
            } else {
                out[o++] = (char)(0xf0 | cp >> 18);
                out[o++] = (char)(0x80 | (cp >> 12 & 0x3f));
                out[o++] = (char)(0x80 | (cp >> 6 & 0x3f));
                out[o++] = (char)(0x80 | (cp & 0x3f));
            }
            break;
        default:
            out[o++] = e;
            break; /* \" \\ \/ */
        }
    }
    sc->i++; /* closing quote */
    out[o] = 0;
    *len = o;
}

struct key {
    char *text;
    size_t len;
};

static bool value(struct scan *sc, const char *path);

static void child_path(char *out, const char *path, const char *key)
{
    if (snprintf(out, VMM__JSON_PATH_MAX, "%s%s%s", path, *path ? "." : "", key) >=
        VMM__JSON_PATH_MAX)
        out[VMM__JSON_PATH_MAX - 1] = 0;
}

static bool object(struct scan *sc, const char *path)
{
    struct key *keys = NULL;
    size_t nkeys = 0, cap = 0;
    bool ok = true;
    sc->i++;
    ws(sc);
    if (sc->i < sc->n && sc->s[sc->i] == '}') {
        sc->i++;
        return true;
    }
    while (ok && sc->i < sc->n) {
        ws(sc);
        if (sc->i >= sc->n || sc->s[sc->i] != '"') {
            ok = fail(sc, path, "keys must be double-quoted strings");
            break;
        }
        size_t j = sc->i + 1;
        while (j < sc->n && sc->s[j] != '"')
            j += sc->s[j] == '\\' ? 2 : 1;
        char *name = malloc(j - sc->i + 1);
        if (!name) {
            ok = fail(sc, path, "out of memory");
            break;
        }
        size_t len;
        string(sc, name, &len);
        char child[VMM__JSON_PATH_MAX];
        child_path(child, path, name);
        if (memchr(name, 0, len))
            ok = fail(sc, path, "a key contains a NUL character");
        for (size_t k = 0; k < nkeys && ok; k++)
            if (keys[k].len == len && memcmp(keys[k].text, name, len) == 0)
                ok = fail(sc, child, "duplicate key");
        if (ok && nkeys == cap) {
            cap = cap ? cap * 2 : 8;
            struct key *nk = realloc(keys, cap * sizeof *nk);
            if (nk)
                keys = nk;
            else
                ok = fail(sc, path, "out of memory");
        }
        if (!ok) {
            free(name);
            break;
        }
        keys[nkeys].text = name; /* owned by keys from here */
        keys[nkeys].len = len;
        nkeys++;
        ws(sc);
        sc->i++; /* ':' */
        ok = value(sc, child);
        ws(sc);
        if (sc->i < sc->n && sc->s[sc->i] == ',') {
            sc->i++;
            continue;
        }
        sc->i++; /* '}' */
        break;
    }
    for (size_t k = 0; k < nkeys; k++)
        free(keys[k].text);
    free(keys);
    return ok;
}

static bool array(struct scan *sc, const char *path)
{
    sc->i++;
    ws(sc);
    if (sc->i < sc->n && sc->s[sc->i] == ']') {
        sc->i++;
        return true;
    }
    for (size_t idx = 0; sc->i < sc->n; idx++) {
        char child[VMM__JSON_PATH_MAX];
        if (snprintf(child, sizeof child, "%s[%zu]", path, idx) >= (int)sizeof child)
            child[sizeof child - 1] = 0;
        if (!value(sc, child))
            return false;
        ws(sc);
        if (sc->i < sc->n && sc->s[sc->i] == ',') {
            sc->i++;
            continue;
        }
        sc->i++; /* ']' */
        break;
    }
    return true;
}

/* A number token: integers must fit in 64 bits (signed if negative). */
static bool number(struct scan *sc, const char *path)
{
    size_t start = sc->i;
    bool integer = true;
    while (sc->i < sc->n && !strchr(",]} \t\r\n", sc->s[sc->i])) {
        if (strchr(".eE", sc->s[sc->i]))
            integer = false;
        sc->i++;
    }
    size_t len = sc->i - start;
    if (!integer || len == 0 || len > 64)
        return len <= 64 || !integer ? true : fail(sc, path, "number too large");
    char buf[65];
    memcpy(buf, sc->s + start, len);
    buf[len] = 0;
    errno = 0;
    if (buf[0] == '-' && (buf[1] < '0' || buf[1] > '9'))
        return fail(sc, path, "not a JSON number (NaN and Infinity are not JSON)");
    if (buf[0] == '-')
        (void)strtoll(buf, NULL, 10);
    else if (buf[0] >= '0' && buf[0] <= '9')
        (void)strtoull(buf, NULL, 10);
    else if (buf[0] == 't' || buf[0] == 'f' || buf[0] == 'n')
        return true; /* true, false, null */
    else
        return fail(sc, path, "not a JSON number (NaN and Infinity are not JSON)");
    return errno == ERANGE ? fail(sc, path, "number out of the 64-bit range") : true;
}

static bool value(struct scan *sc, const char *path)
{
    ws(sc);
    if (sc->i >= sc->n)
        return true;
    char c = sc->s[sc->i];
    if (c == '\'')
        return fail(sc, path, "strings must be double-quoted");
    if (c == '{')
        return object(sc, path);
    if (c == '[')
        return array(sc, path);
    if (c == '"') {
        size_t j = sc->i + 1;
        while (j < sc->n && sc->s[j] != '"')
            j += sc->s[j] == '\\' ? 2 : 1;
        sc->i = j + 1;
        return true;
    }
    return number(sc, path);
}

int vmm__json_check_utf8(const char *json, size_t len, size_t *bad)
{
    *bad = utf8_bad_offset((const unsigned char *)json, len);
    return *bad == len ? 0 : -1;
}

int vmm__json_check(const char *json, size_t len, char *path, size_t pathlen, char *why,
                    size_t whylen)
{
    struct scan sc = {json, 0, len, path, pathlen, why, whylen};
    path[0] = why[0] = 0;
    return value(&sc, "") ? 0 : -1;
}
