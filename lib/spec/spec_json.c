/* SPDX-License-Identifier: MIT */
/* The spec parser's strict getters: each value checked for its type and
 * range, files for existence, with the JSON path in every error. */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spec_internal.h"

int vmm__spec_bad(const char *path, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vmm__err(VMM_ECONFIG, "%s: %s", *path ? path : "(spec)", msg);
}

/* out = path.key; a path too long for messages is cut, which is harmless. */
void vmm__spec_join(char *out, const char *path, const char *key)
{
    if (snprintf(out, VMM__SPEC_PATH_MAX, "%s%s%s", path, *path ? "." : "", key) >=
        VMM__SPEC_PATH_MAX)
        out[VMM__SPEC_PATH_MAX - 1] = 0;
}

const char *vmm__spec_type_name(struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        return "null";
    case json_type_boolean:
        return "a boolean";
    case json_type_double:
        return "a fraction";
    case json_type_int:
        return "an integer";
    case json_type_object:
        return "an object";
    case json_type_array:
        return "an array";
    case json_type_string:
        return "a string";
    }
    return "unknown";
}

/* Refuse keys outside `allowed` (NULL-terminated). */
int vmm__spec_check_keys(struct json_object *o, const char *path, const char *const *allowed)
{
    json_object_object_foreach(o, key, val)
    {
        (void)val;
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(key, *a) == 0;
        if (!ok) {
            char p[VMM__SPEC_PATH_MAX];
            vmm__spec_join(p, path, key);
            return vmm__spec_bad(p, "unknown key");
        }
    }
    return 0;
}

int vmm__spec_get_object(struct json_object *parent, const char *path, const char *key,
                         struct json_object **out)
{
    char p[VMM__SPEC_PATH_MAX];
    *out = NULL;
    if (!json_object_object_get_ex(parent, key, out))
        return 0;
    vmm__spec_join(p, path, key);
    if (!json_object_is_type(*out, json_type_object))
        return vmm__spec_bad(p, "must be an object, not %s", vmm__spec_type_name(*out));
    return 1;
}

int vmm__spec_get_bool(struct json_object *o, const char *path, const char *key, bool *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return 0;
    char p[VMM__SPEC_PATH_MAX];
    vmm__spec_join(p, path, key);
    if (!json_object_is_type(v, json_type_boolean))
        return vmm__spec_bad(p, "must be true or false, not %s", vmm__spec_type_name(v));
    *out = json_object_get_boolean(v);
    return 1;
}

/* A string of 1..maxlen bytes without control characters. */
int vmm__spec_get_string(struct json_object *o, const char *path, const char *key, size_t maxlen,
                         const char **out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return 0;
    char p[VMM__SPEC_PATH_MAX];
    vmm__spec_join(p, path, key);
    if (!json_object_is_type(v, json_type_string))
        return vmm__spec_bad(p, "must be a string, not %s", vmm__spec_type_name(v));
    const char *s = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    if (n == 0 || n > maxlen)
        return vmm__spec_bad(p, "must be 1 to %zu characters", maxlen);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            return vmm__spec_bad(p, "contains a control character");
    *out = s;
    return 1;
}

int vmm__spec_get_u64(struct json_object *o, const char *path, const char *key, uint64_t min,
                      uint64_t max, uint64_t *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return 0;
    char p[VMM__SPEC_PATH_MAX];
    vmm__spec_join(p, path, key);
    uint64_t u;
    if (json_object_is_type(v, json_type_int)) {
        errno = 0;
        int64_t si = json_object_get_int64(v);
        if (si < 0)
            return vmm__spec_bad(p, "must not be negative");
        u = json_object_get_uint64(v);
        if (errno == ERANGE)
            return vmm__spec_bad(p, "too large");
    } else if (json_object_is_type(v, json_type_string)) {
        int r = vmm__parse_u64_text(json_object_get_string(v), &u);
        if (r == -2)
            return vmm__spec_bad(p, "too large");
        if (r < 0)
            return vmm__spec_bad(p, "\"%s\" is not a number (use 4096, \"0x1000\" or \"4K\")",
                                 json_object_get_string(v));
    } else {
        return vmm__spec_bad(p, "must be a number, not %s", vmm__spec_type_name(v));
    }
    if (u < min || u > max)
        return vmm__spec_bad(p, "must be in %llu..%llu", (unsigned long long)min,
                             (unsigned long long)max);
    *out = u;
    return 1;
}

char *vmm__spec_resolve(const char *base_dir, const char *path)
{
    size_t n = strlen(path) + (base_dir ? strlen(base_dir) : 0) + 2;
    char *r = malloc(n);
    if (!r)
        return NULL;
    if (path[0] == '/' || !base_dir || !*base_dir)
        snprintf(r, n, "%s", path);
    else
        snprintf(r, n, "%s/%s", base_dir, path);
    return r;
}

/* A file the spec names: it must exist and be a regular file. */
int vmm__spec_get_file(struct json_object *o, const char *path, const char *key,
                       const char *base_dir, char **out, uint64_t *size)
{
    const char *s;
    int r = vmm__spec_get_string(o, path, key, PATH_MAX - 1, &s);
    if (r <= 0)
        return r;
    char p[VMM__SPEC_PATH_MAX];
    vmm__spec_join(p, path, key);
    char *full = vmm__spec_resolve(base_dir, s);
    if (!full)
        return vmm__err(VMM_ENOMEM, "%s: out of memory", p);
    struct stat st;
    if (stat(full, &st) < 0) {
        int e = errno;
        free(full);
        return vmm__spec_bad(p, "%s", e == ENOENT ? "no such file" : strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        free(full);
        return vmm__spec_bad(p, "not a regular file");
    }
    if (access(full, R_OK) < 0) {
        free(full);
        return vmm__spec_bad(p, "not readable");
    }
    *out = full;
    if (size)
        *size = (uint64_t)st.st_size;
    return 1;
}
