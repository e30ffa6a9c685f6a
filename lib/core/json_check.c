/* SPDX-License-Identifier: MIT */
/* A second pass over JSON text that json-c accepted: finds duplicate keys
 * (json-c silently keeps the last one) and single-quoted strings (which json-c
 * accepts even in strict mode), and reports the JSON path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct scan {
    const char *s;
    size_t i, n;
    char err[256];
};

static void ws(struct scan *sc)
{
    while (sc->i < sc->n && strchr(" \t\r\n", sc->s[sc->i]) && sc->s[sc->i])
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

/* Decode the string at sc->i (on the opening quote) into out (at most cap-1
 * bytes kept, always terminated); *len receives the full decoded length. The
 * text is known to be valid JSON, so escapes are well formed. */
static void string(struct scan *sc, char *out, size_t cap, size_t *len)
{
    size_t o = 0;
    sc->i++; /* opening quote */
    while (sc->i < sc->n && sc->s[sc->i] != '"') {
        char c = sc->s[sc->i++];
        unsigned int cp;
        char buf[4];
        size_t nb = 1;
        buf[0] = c;
        if (c == '\\' && sc->i < sc->n) {
            char e = sc->s[sc->i++];
            switch (e) {
            case 'b':
                buf[0] = '\b';
                break;
            case 'f':
                buf[0] = '\f';
                break;
            case 'n':
                buf[0] = '\n';
                break;
            case 'r':
                buf[0] = '\r';
                break;
            case 't':
                buf[0] = '\t';
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
                    buf[0] = (char)cp;
                } else if (cp < 0x800) {
                    buf[0] = (char)(0xc0 | cp >> 6);
                    buf[1] = (char)(0x80 | (cp & 0x3f));
                    nb = 2;
                } else if (cp < 0x10000) {
                    buf[0] = (char)(0xe0 | cp >> 12);
                    buf[1] = (char)(0x80 | (cp >> 6 & 0x3f));
                    buf[2] = (char)(0x80 | (cp & 0x3f));
                    nb = 3;
                } else {
                    buf[0] = (char)(0xf0 | cp >> 18);
                    buf[1] = (char)(0x80 | (cp >> 12 & 0x3f));
                    buf[2] = (char)(0x80 | (cp >> 6 & 0x3f));
                    buf[3] = (char)(0x80 | (cp & 0x3f));
                    nb = 4;
                }
                break;
            default:
                buf[0] = e;
                break; /* \" \\ \/ */
            }
        }
        for (size_t k = 0; k < nb; k++, o++)
            if (o + 1 < cap)
                out[o] = buf[k];
    }
    sc->i++; /* closing quote */
    out[o + 1 < cap ? o : cap - 1] = 0;
    *len = o;
}

struct key {
    char *text;
    size_t len;
};

static bool value(struct scan *sc, const char *path);

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
            snprintf(sc->err, sizeof sc->err, "%s%skeys must be double-quoted strings", path,
                     *path ? ": " : "");
            ok = false;
            break;
        }
        /* A decoded string is never longer than its JSON text. */
        size_t j = sc->i + 1;
        while (j < sc->n && sc->s[j] != '"')
            j += sc->s[j] == '\\' ? 2 : 1;
        char *name = malloc(j - sc->i + 1);
        if (!name) {
            snprintf(sc->err, sizeof sc->err, "out of memory");
            ok = false;
            break;
        }
        size_t len;
        string(sc, name, j - sc->i + 1, &len);
        for (size_t k = 0; k < nkeys && ok; k++)
            if (keys[k].len == len && memcmp(keys[k].text, name, len) == 0) {
                snprintf(sc->err, sizeof sc->err, "%s%s%s: duplicate key", path, *path ? "." : "",
                         name);
                ok = false;
            }
        if (ok && nkeys == cap) {
            cap = cap ? cap * 2 : 8;
            struct key *nk = realloc(keys, cap * sizeof *nk);
            if (!nk) {
                snprintf(sc->err, sizeof sc->err, "out of memory");
                ok = false;
            } else {
                keys = nk;
            }
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
        char child[VMM__JSON_PATH_MAX];
        snprintf(child, sizeof child, "%s%s%s", path, *path ? "." : "", name);
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
        snprintf(child, sizeof child, "%s[%zu]", path, idx);
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

static bool value(struct scan *sc, const char *path)
{
    ws(sc);
    if (sc->i >= sc->n)
        return true;
    char c = sc->s[sc->i];
    if (c == '\'') {
        snprintf(sc->err, sizeof sc->err, "%s%sstrings must be double-quoted", path,
                 *path ? ": " : "");
        return false;
    }
    if (c == '{')
        return object(sc, path);
    if (c == '[')
        return array(sc, path);
    if (c == '"') {
        char skip[2];
        size_t len;
        string(sc, skip, sizeof skip, &len);
        return true;
    }
    while (sc->i < sc->n && !strchr(",]} \t\r\n", sc->s[sc->i]))
        sc->i++;
    return true;
}

int vmm__json_check(const char *json, size_t len, char *err, size_t errlen)
{
    struct scan sc = {json, 0, len, {0}};
    if (value(&sc, ""))
        return 0;
    snprintf(err, errlen, "%s", sc.err);
    return -1;
}
